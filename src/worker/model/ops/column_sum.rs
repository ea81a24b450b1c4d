//! The sum of a matrix's rows: a bias's or a LayerNorm weight's gradient.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::CustomOp1;
use candle_core::{CpuStorage, Layout, Result, Shape, Tensor};

use super::rows;

/// The sum of the rows of a 2-D `x`. On the CPU it is the product of a row of ones with `x`: a
/// matrix product runs on every core with SIMD, where candle's CPU sum over the first dimension
/// walks the columns one by one. On a GPU it is [`ColumnSum`]'s kernel, where candle's sum
/// uploads its shape and strides and reads each column in a block of its own, one row apart.
pub fn column_sum(x: &Tensor) -> Result<Tensor> {
    let x = x.contiguous()?;
    if !x.device().is_cpu() {
        return x.apply_op1_no_bwd(&ColumnSum);
    }
    let (rows, cols) = x.dims2()?;
    Tensor::ones((1, rows), x.dtype(), x.device())?
        .matmul(&x)?
        .reshape(cols)
}

/// The column sums of a (rows, width) matrix, as a (width) vector. The CPU twin of the CUDA
/// kernel `yj_column_sum`, summing in the kernel's order: 16 partial sums of every 16th row,
/// then those in turn.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSum;

/// How many partial sums each column has (the kernel's rows of threads).
const PARTIALS: usize = 16;

impl CustomOp1 for ColumnSum {
    fn name(&self) -> &'static str {
        "column-sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, width) = rows(s, l, self.name())?;
        let (n, _) = l.shape().dims2()?;
        let mut y = vec![0f32; width];
        for (c, y) in y.iter_mut().enumerate() {
            let mut partial = [0f32; PARTIALS];
            for (k, p) in partial.iter_mut().enumerate() {
                for r in (k..n).step_by(PARTIALS) {
                    *p += x[r * width + c];
                }
            }
            *y = partial.iter().fold(0.0, |t, p| t + p);
        }
        Ok((CpuStorage::F32(y), Shape::from(width)))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        crate::worker::cuda::column_sum(s, l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::model::ops::test_util::random;

    /// Both ways of summing agree with candle's sum.
    #[test]
    fn sums_the_rows() -> Result<()> {
        for (rows, width) in [(1, 5), (37, 64), (300, 33)] {
            let x = random(&[rows, width], 9)?;
            let expected = x.sum(0)?.to_vec1::<f32>()?;
            for got in [
                column_sum(&x)?.to_vec1::<f32>()?,
                x.apply_op1_no_bwd(&ColumnSum)?.to_vec1::<f32>()?,
            ] {
                let diff = got
                    .iter()
                    .zip(&expected)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(diff <= 1e-4, "{rows}x{width}: differs by {diff}");
            }
        }
        Ok(())
    }
}

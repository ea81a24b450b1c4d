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

/// The sum of the rows of each of `x`'s matrices (planes, rows, width), as (planes, width): on
/// a GPU one launch for them all.
pub fn column_sums(x: &Tensor) -> Result<Tensor> {
    let x = x.contiguous()?;
    if !x.device().is_cpu() {
        return x.apply_op1_no_bwd(&ColumnSum);
    }
    let planes = (0..x.dim(0)?)
        .map(|k| column_sum(&x.get(k)?))
        .collect::<Result<Vec<_>>>()?;
    Tensor::stack(&planes, 0)
}

/// The column sums of a (rows, width) matrix, as a (width) vector, or of each matrix of
/// (planes, rows, width), as (planes, width). The CPU twin of the CUDA kernel `yj_column_sum`,
/// summing in the kernel's order: 16 partial sums of every 16th row, then those in turn.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSum;

/// How many partial sums each column has (the kernel's rows of threads).
const PARTIALS: usize = 16;

impl ColumnSum {
    /// The planes and rows of a (rows, width) or (planes, rows, width) input, and the output's
    /// shape.
    pub fn shape(l: &Layout) -> Result<(usize, usize, Shape)> {
        match *l.dims() {
            [rows, width] => Ok((1, rows, Shape::from(width))),
            [planes, rows, width] => Ok((planes, rows, Shape::from((planes, width)))),
            _ => candle_core::bail!("column-sum: expected 2 or 3 dimensions, got {:?}", l.dims()),
        }
    }
}

impl CustomOp1 for ColumnSum {
    fn name(&self) -> &'static str {
        "column-sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, width) = rows(s, l, self.name())?;
        let (planes, n, shape) = ColumnSum::shape(l)?;
        let mut y = vec![0f32; planes * width];
        for (plane, y) in y.chunks_mut(width).enumerate() {
            let x = &x[plane * n * width..][..n * width];
            for (c, y) in y.iter_mut().enumerate() {
                let mut partial = [0f32; PARTIALS];
                for (k, p) in partial.iter_mut().enumerate() {
                    for r in (k..n).step_by(PARTIALS) {
                        *p += x[r * width + c];
                    }
                }
                *y = partial.iter().fold(0.0, |t, p| t + p);
            }
        }
        Ok((CpuStorage::F32(y), shape))
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

    /// Each plane is summed as a matrix alone.
    #[test]
    fn sums_each_plane() -> Result<()> {
        let x = random(&[3, 21, 10], 4)?;
        let expected = x.sum(1)?.flatten_all()?.to_vec1::<f32>()?;
        for got in [column_sums(&x)?, x.apply_op1_no_bwd(&ColumnSum)?] {
            assert_eq!(got.dims(), [3, 10]);
            let got = got.flatten_all()?.to_vec1::<f32>()?;
            let diff = got
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(diff <= 1e-5, "differs by {diff}");
        }
        Ok(())
    }

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

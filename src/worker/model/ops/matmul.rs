//! Batched products of many small matrices: attention's, one per sequence and head.
//!
//! Candle's CPU backend multiplies a batch one matrix after another, and splits each product
//! over every thread. For attention's products (about 60 × 60 × 32 each, 192 to a batch of 16),
//! the splitting and joining cost more than the arithmetic. Here the batch is split instead,
//! and each product runs on one thread. On a GPU candle's own batched product is used.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `a @ b` over the last two dimensions, for `a` (..., m, k) and `b` (..., k, n) with the same
/// leading dimensions. Either may be a transposed view.
pub fn batched_matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.device().is_cpu() {
        a.apply_op2(b, BatchedMatMul)
    } else {
        a.matmul(b)
    }
}

struct BatchedMatMul;

/// One operand as the product reads it: where each matrix of the batch starts, and the
/// strides of its rows and columns.
struct Operand<'a> {
    data: &'a [f32],
    starts: Vec<usize>,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Operand<'a> {
    /// The operand of `layout` over `storage`, checked to lie inside the storage.
    fn new(storage: &'a CpuStorage, layout: &Layout, rows: usize, cols: usize) -> Result<Self> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("batched-matmul: expected f32")
        };
        let (dims, strides) = (layout.dims(), layout.stride());
        let rank = dims.len();
        let (batch_dims, batch_strides) = (&dims[..rank - 2], &strides[..rank - 2]);
        let count: usize = batch_dims.iter().product();
        let starts: Vec<usize> = (0..count)
            .map(|mut i| {
                let mut start = layout.start_offset();
                for (d, s) in batch_dims.iter().zip(batch_strides).rev() {
                    start += (i % d) * s;
                    i /= d;
                }
                start
            })
            .collect();
        let (row_stride, col_stride) = (strides[rank - 2], strides[rank - 1]);
        let span = (rows - 1) * row_stride + (cols - 1) * col_stride;
        if starts.iter().any(|s| s + span >= data.len()) {
            candle_core::bail!("batched-matmul: a layout reaches outside its storage")
        }
        Ok(Operand {
            data,
            starts,
            row_stride,
            col_stride,
        })
    }

    /// Matrix `i`'s first element.
    fn matrix(&self, i: usize) -> *const f32 {
        self.data[self.starts[i]..].as_ptr()
    }
}

impl CustomOp2 for BatchedMatMul {
    fn name(&self) -> &'static str {
        "batched-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (da, db) = (l1.dims(), l2.dims());
        let rank = da.len();
        if rank < 2 || db.len() != rank || da[..rank - 2] != db[..rank - 2] {
            candle_core::bail!("batched-matmul: shapes {da:?} and {db:?} do not batch")
        }
        let (m, k, n) = (da[rank - 2], da[rank - 1], db[rank - 1]);
        if db[rank - 2] != k {
            candle_core::bail!("batched-matmul: shapes {da:?} and {db:?} do not multiply")
        }
        let mut dims = da[..rank - 2].to_vec();
        dims.extend([m, n]);
        let count: usize = da[..rank - 2].iter().product();
        let mut out = vec![0f32; count * m * n];
        if out.is_empty() || k == 0 {
            return Ok((CpuStorage::F32(out), Shape::from(dims)));
        }
        let (a, b) = (Operand::new(s1, l1, m, k)?, Operand::new(s2, l2, k, n)?);
        out.par_chunks_mut(m * n).enumerate().for_each(|(i, c)| {
            // SAFETY: `Operand::new` checked that every element of matrix i of a and b lies
            // inside its storage; c is a distinct m × n chunk, written with row stride n.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.matrix(i),
                    a.col_stride as isize,
                    a.row_stride as isize,
                    b.matrix(i),
                    b.col_stride as isize,
                    b.row_stride as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            }
        });
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _c: &Tensor,
        dc: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let da = batched_matmul(dc, &b.t()?)?;
        let db = batched_matmul(&a.t()?, dc)?;
        Ok((Some(da), Some(db)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::model::ops::test_util::*;

    /// The batched product and its gradients equal candle's matmul, on contiguous and on
    /// transposed operands.
    #[test]
    fn batched_matmul_matches_candle() -> Result<()> {
        let inputs = [random(&[2, 3, 5, 4], 1)?, random(&[2, 3, 4, 6], 2)?];
        let fused = run(&inputs, |t| batched_matmul(&t[0], &t[1]))?;
        let plain = run(&inputs, |t| t[0].matmul(&t[1]))?;
        assert_close(&fused, &plain, 1e-5);

        let inputs = [random(&[2, 3, 4, 5], 3)?, random(&[2, 3, 6, 4], 4)?];
        let fused = run(&inputs, |t| batched_matmul(&t[0].t()?, &t[1].t()?))?;
        let plain = run(&inputs, |t| t[0].t()?.matmul(&t[1].t()?))?;
        assert_close(&fused, &plain, 1e-5);
        Ok(())
    }

    /// Shapes that do not multiply are an error, not a read outside a buffer.
    #[test]
    fn mismatched_shapes_are_errors() -> Result<()> {
        let a = random(&[2, 3, 4], 1)?;
        assert!(batched_matmul(&a, &random(&[2, 5, 4], 2)?).is_err());
        assert!(batched_matmul(&a, &random(&[3, 4, 4], 2)?).is_err());
        Ok(())
    }
}

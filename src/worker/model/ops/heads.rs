//! Attention heads: rows of stacked projections split into heads (with the projection's bias
//! added on the way), and heads merged back into rows. Unfused, each is a broadcast add and a
//! permuted copy, or a stack and a permuted copy: on a GPU each of those is a launch that also
//! uploads its shape and strides.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::{CpuStorage, Layout, Result, Shape, Tensor};
use candle_core::{CustomOp1, CustomOp2, CustomOp3};
use rayon::prelude::*;

use super::{column_sum, rows};

/// `x` of (batch * len, parts * heads * head_size), plus `bias` of (parts * heads * head_size)
/// when given, as (parts, batch, heads, len, head_size): the stacked query, key and value
/// projections (3 parts) as each one's heads, or the context's gradient (1 part).
pub fn split_heads(
    x: &Tensor,
    bias: Option<&Tensor>,
    parts: usize,
    batch: usize,
    heads: usize,
) -> Result<Tensor> {
    let x = x.contiguous()?;
    let op = SplitHeads {
        parts,
        batch,
        heads,
    };
    match bias {
        Some(bias) => x.apply_op2(bias, op),
        None => x.apply_op1(op),
    }
}

/// One or three tensors of (batch, heads, len, head_size) as rows of (batch * len,
/// parts * heads * head_size): the inverse of [`split_heads`] without a bias.
pub fn merge_heads(parts: &[&Tensor]) -> Result<Tensor> {
    match parts {
        [a] => a.contiguous()?.apply_op1(MergeHeads),
        [a, b, c] => {
            a.contiguous()?
                .apply_op3_no_bwd(&b.contiguous()?, &c.contiguous()?, &MergeHeads)
        }
        _ => candle_core::bail!("merge-heads: takes one part or three"),
    }
}

/// The shape both directions work in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLayout {
    pub parts: usize,
    pub batch: usize,
    pub heads: usize,
    pub len: usize,
    pub head_size: usize,
}

impl HeadLayout {
    /// A row's width: every part's heads side by side.
    fn width(&self) -> usize {
        self.parts * self.heads * self.head_size
    }

    fn rows(&self) -> usize {
        self.batch * self.len
    }

    /// The rows' shape, (batch * len, parts * heads * head_size).
    pub fn rows_shape(&self) -> Shape {
        Shape::from((self.rows(), self.width()))
    }

    /// The heads' shape, (parts, batch, heads, len, head_size).
    pub fn split_shape(&self) -> Shape {
        Shape::from((self.parts, self.batch, self.heads, self.len, self.head_size))
    }

    /// Where head-block `t` of the split shape (part, batch entry, head, in that order) starts
    /// in its rows: its batch entry's first row, and its first column.
    fn block_origin(&self, t: usize) -> (usize, usize) {
        let head = t % self.heads;
        let entry = (t / self.heads) % self.batch;
        let part = t / (self.heads * self.batch);
        (
            entry * self.len,
            (part * self.heads + head) * self.head_size,
        )
    }
}

/// Splits rows into heads; see [`split_heads`].
#[derive(Debug, Clone, Copy)]
pub struct SplitHeads {
    pub parts: usize,
    pub batch: usize,
    pub heads: usize,
}

impl SplitHeads {
    /// The layout of `x`'s rows, with a bias of `bias_len` when there is one.
    pub fn layout(&self, l: &Layout, bias_len: Option<usize>) -> Result<HeadLayout> {
        let (rows, width) = l.shape().dims2()?;
        let per_row = self.parts * self.heads;
        let fits = self.batch > 0
            && per_row > 0
            && rows.is_multiple_of(self.batch)
            && width.is_multiple_of(per_row);
        if !fits {
            candle_core::bail!(
                "split-heads: {rows} rows of {width} do not split into {} entries of {} parts of {} heads",
                self.batch,
                self.parts,
                self.heads
            )
        }
        if bias_len.is_some_and(|n| n != width) {
            candle_core::bail!("split-heads: the bias must have the rows' width {width}")
        }
        Ok(HeadLayout {
            parts: self.parts,
            batch: self.batch,
            heads: self.heads,
            len: rows / self.batch,
            head_size: width / per_row,
        })
    }

    /// The split of `x`, each element plus `bias` of its column.
    fn cpu(x: &[f32], bias: Option<&[f32]>, h: HeadLayout) -> Vec<f32> {
        let (width, block) = (h.width(), h.len * h.head_size);
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(block).enumerate().for_each(|(t, y)| {
            let (first_row, column) = h.block_origin(t);
            for (l, y) in y.chunks_mut(h.head_size).enumerate() {
                let x = &x[(first_row + l) * width + column..][..h.head_size];
                match bias {
                    Some(bias) => {
                        let bias = &bias[column..][..h.head_size];
                        for ((o, v), b) in y.iter_mut().zip(x).zip(bias) {
                            *o = v + b;
                        }
                    }
                    None => y.copy_from_slice(x),
                }
            }
        });
        y
    }
}

impl CustomOp1 for SplitHeads {
    fn name(&self) -> &'static str {
        "split-heads"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, _) = rows(s, l, "split-heads")?;
        let h = self.layout(l, None)?;
        Ok((CpuStorage::F32(Self::cpu(x, None, h)), h.split_shape()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        let h = self.layout(l, None)?;
        crate::worker::cuda::split_heads((s, l), None, h)
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(merge_split(dy)?))
    }
}

impl CustomOp2 for SplitHeads {
    fn name(&self) -> &'static str {
        "split-heads"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, _) = rows(s1, l1, "split-heads")?;
        let (bias, _) = rows(s2, l2, "split-heads")?;
        let h = self.layout(l1, Some(bias.len()))?;
        Ok((
            CpuStorage::F32(Self::cpu(x, Some(bias), h)),
            h.split_shape(),
        ))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        let h = self.layout(l1, Some(l2.shape().elem_count()))?;
        crate::worker::cuda::split_heads((s1, l1), Some((s2, l2)), h)
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _bias: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = merge_split(dy)?;
        let dbias = column_sum(&dx)?;
        Ok((Some(dx), Some(dbias)))
    }
}

/// The rows of a split's gradient (parts, batch, heads, len, head_size).
fn merge_split(dy: &Tensor) -> Result<Tensor> {
    let parts = (0..dy.dim(0)?)
        .map(|k| dy.get(k))
        .collect::<Result<Vec<_>>>()?;
    merge_heads(&parts.iter().collect::<Vec<_>>())
}

/// Merges heads into rows; see [`merge_heads`].
#[derive(Debug, Clone, Copy)]
pub struct MergeHeads;

impl MergeHeads {
    /// The layout of `parts` tensors of `l`'s shape, (batch, heads, len, head_size).
    pub fn layout(l: &Layout, parts: usize) -> Result<HeadLayout> {
        let (batch, heads, len, head_size) = l.shape().dims4()?;
        Ok(HeadLayout {
            parts,
            batch,
            heads,
            len,
            head_size,
        })
    }

    fn cpu(parts: &[&[f32]], h: HeadLayout) -> Vec<f32> {
        let width = h.width();
        let mut y = vec![0f32; h.rows() * width];
        y.par_chunks_mut(width).enumerate().for_each(|(r, y)| {
            let (entry, l) = (r / h.len, r % h.len);
            for (part, x) in parts.iter().enumerate() {
                for head in 0..h.heads {
                    let from = ((entry * h.heads + head) * h.len + l) * h.head_size;
                    let to = (part * h.heads + head) * h.head_size;
                    y[to..][..h.head_size].copy_from_slice(&x[from..][..h.head_size]);
                }
            }
        });
        y
    }
}

impl CustomOp1 for MergeHeads {
    fn name(&self) -> &'static str {
        "merge-heads"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, _) = rows(s, l, "merge-heads")?;
        let h = Self::layout(l, 1)?;
        Ok((CpuStorage::F32(Self::cpu(&[x], h)), h.rows_shape()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        let h = Self::layout(l, 1)?;
        crate::worker::cuda::merge_heads(&[(s, l)], h)
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let (batch, heads, _, _) = x.dims4()?;
        Ok(Some(split_heads(dy, None, 1, batch, heads)?.get(0)?))
    }
}

impl CustomOp3 for MergeHeads {
    fn name(&self) -> &'static str {
        "merge-heads"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if l2.shape() != l1.shape() || l3.shape() != l1.shape() {
            candle_core::bail!("merge-heads: the parts' shapes differ")
        }
        let h = Self::layout(l1, 3)?;
        let (a, _) = rows(s1, l1, "merge-heads")?;
        let (b, _) = rows(s2, l2, "merge-heads")?;
        let (c, _) = rows(s3, l3, "merge-heads")?;
        Ok((CpuStorage::F32(Self::cpu(&[a, b, c], h)), h.rows_shape()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
        s3: &CudaStorage,
        l3: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        if l2.shape() != l1.shape() || l3.shape() != l1.shape() {
            candle_core::bail!("merge-heads: the parts' shapes differ")
        }
        let h = Self::layout(l1, 3)?;
        crate::worker::cuda::merge_heads(&[(s1, l1), (s2, l2), (s3, l3)], h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::model::ops::test_util::*;

    /// The split (with its bias) is the broadcast add and the permuted copy it replaces, bit
    /// for bit, and so are the gradients up to the order of the bias's sum; the merge undoes
    /// it. Shapes as (batch, length, heads, head size), 3 parts, down to one token of one
    /// sentence.
    #[test]
    fn split_is_add_and_permute() -> Result<()> {
        for (batch, len, heads, size) in [(2, 5, 4, 3), (1, 1, 2, 3), (3, 1, 1, 1)] {
            let inputs = [
                random(&[batch * len, 3 * heads * size], 1)?,
                random(&[3 * heads * size], 2)?,
            ];
            let fused = run(&inputs, |t| {
                split_heads(&t[0], Some(&t[1]), 3, batch, heads)
            })?;
            let plain = run(&inputs, |t| {
                t[0].broadcast_add(&t[1])?
                    .reshape((batch, len, 3, heads, size))?
                    .permute((2, 0, 3, 1, 4))?
                    .contiguous()
            })?;
            assert_eq!(fused[0], plain[0]);
            assert_eq!(fused[1], plain[1]);
            assert_close(&fused, &plain, 1e-5);

            let split = split_heads(&inputs[0], None, 3, batch, heads)?;
            let parts = [split.get(0)?, split.get(1)?, split.get(2)?];
            let merged = merge_heads(&parts.iter().collect::<Vec<_>>())?;
            assert_eq!(
                merged.flatten_all()?.to_vec1::<f32>()?,
                inputs[0].flatten_all()?.to_vec1::<f32>()?
            );
        }
        Ok(())
    }

    /// Merging one part is the transposed copy it replaces, and its gradient a split.
    #[test]
    fn merge_is_transpose_and_copy() -> Result<()> {
        let (batch, heads, len, size) = (3, 2, 7, 5);
        let inputs = [random(&[batch, heads, len, size], 3)?];
        let fused = run(&inputs, |t| merge_heads(&[&t[0]]))?;
        let plain = run(&inputs, |t| {
            t[0].transpose(1, 2)?
                .contiguous()?
                .reshape((batch * len, heads * size))
        })?;
        assert_eq!(fused, plain);
        Ok(())
    }

    /// Three parts merge as a stack and a permuted copy do.
    #[test]
    fn merging_three_is_stack_and_permute() -> Result<()> {
        let (batch, heads, len, size) = (2, 3, 4, 5);
        let parts = [
            random(&[batch, heads, len, size], 4)?,
            random(&[batch, heads, len, size], 5)?,
            random(&[batch, heads, len, size], 6)?,
        ];
        let fused = merge_heads(&parts.iter().collect::<Vec<_>>())?;
        let plain = Tensor::stack(&parts, 0)?
            .permute((1, 3, 0, 2, 4))?
            .contiguous()?
            .reshape((batch * len, 3 * heads * size))?;
        assert_eq!(
            fused.flatten_all()?.to_vec1::<f32>()?,
            plain.flatten_all()?.to_vec1::<f32>()?
        );
        assert!(merge_heads(&[&parts[0], &parts[1]]).is_err());
        assert!(split_heads(&random(&[9, 24], 7)?, None, 3, 2, 4).is_err());
        Ok(())
    }
}

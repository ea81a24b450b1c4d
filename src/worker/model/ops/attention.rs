//! The attention's probabilities: scale, padding mask, softmax and dropout in one op each way.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::{CpuStorage, Layout, Result, Shape, Tensor};
use candle_core::{CustomOp2, CustomOp3};
use rayon::prelude::*;

use super::dropout::DropMask;
use super::simd::{self, vectorised};
use super::{exp, row_group, rows};

/// The attention's probabilities (see [`AttentionProbs`]).
pub fn attention_probs(
    scores: &Tensor,
    mask: &Tensor,
    scale: f32,
    drop: Option<DropMask>,
) -> Result<Tensor> {
    scores.apply_op2(mask, AttentionProbs { scale, drop })
}

/// The scores' gradient, from the probabilities' gradient `dy`.
pub fn attention_probs_backward(
    scores: &Tensor,
    mask: &Tensor,
    dy: &Tensor,
    scale: f32,
    drop: Option<DropMask>,
) -> Result<Tensor> {
    scores.contiguous()?.apply_op3_no_bwd(
        mask,
        &dy.contiguous()?,
        &AttentionProbsGrad { scale, drop },
    )
}

/// The attention's probabilities: `dropout(softmax(scores * scale + mask))` over the last
/// dimension. Inputs: scores (batch, heads, queries, keys) and the additive padding mask
/// (batch, keys). The backward pass recomputes the softmax from the scores instead of keeping
/// it, and draws the same dropout mask.
pub struct AttentionProbs {
    pub scale: f32,
    pub drop: Option<DropMask>,
}

/// What both directions share: the rows, their width, how many rows one batch entry has.
struct AttentionRows<'a> {
    scores: &'a [f32],
    mask: &'a [f32],
    width: usize,
    rows_per_entry: usize,
}

impl<'a> AttentionRows<'a> {
    fn new(s1: &'a CpuStorage, l1: &Layout, s2: &'a CpuStorage, l2: &Layout) -> Result<Self> {
        let (scores, width) = rows(s1, l1, "attention-probs")?;
        let (mask, mask_width) = rows(s2, l2, "attention-probs")?;
        let entries = mask.len() / mask_width.max(1);
        if mask_width != width || entries == 0 || scores.len() % (entries * width) != 0 {
            candle_core::bail!("attention-probs: the mask does not fit the scores")
        }
        Ok(AttentionRows {
            scores,
            mask,
            width,
            rows_per_entry: scores.len() / (entries * width),
        })
    }

    /// Softmax of row `r`'s scaled, masked scores into `y`.
    fn softmax(&self, r: usize, scale: f32, y: &mut [f32]) {
        let w = self.width;
        let x = &self.scores[r * w..(r + 1) * w];
        let m = &self.mask[(r / self.rows_per_entry) * w..][..w];
        softmax_row(x, m, scale, y)
    }
}

vectorised! {
    /// `y = softmax(x * scale + mask)` for one row.
    fn softmax_row(x: &[f32], mask: &[f32], scale: f32, y: &mut [f32]) {
        for ((o, v), b) in y.iter_mut().zip(x).zip(mask) {
            *o = v * scale + b;
        }
        let max = simd::max(y);
        for o in y.iter_mut() {
            *o = exp(*o - max);
        }
        let inv = 1.0 / simd::sum(y);
        for o in y.iter_mut() {
            *o *= inv;
        }
    }
}

vectorised! {
    /// `dx = y * (g - Σ g y) * scale` for one row: the scores' gradient from the softmax `y`
    /// and the probabilities' gradient `g`.
    fn softmax_grad_row(y: &[f32], g: &[f32], scale: f32, dx: &mut [f32]) {
        let dot = simd::dot(y, g);
        for ((o, a), g) in dx.iter_mut().zip(y).zip(g) {
            *o = a * (g - dot) * scale;
        }
    }
}

impl CustomOp2 for AttentionProbs {
    fn name(&self) -> &'static str {
        "attention-probs"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = AttentionRows::new(s1, l1, s2, l2)?;
        let w = a.width;
        let mut y = vec![0f32; a.scores.len()];
        let group = row_group(w);
        y.par_chunks_mut(group).enumerate().for_each(|(c, y)| {
            let mut keep = vec![0f32; w];
            for (k, y) in y.chunks_mut(w).enumerate() {
                let r = c * (group / w) + k;
                a.softmax(r, self.scale, y);
                if let Some(drop) = &self.drop {
                    drop.fill(r * w, &mut keep);
                    y.iter_mut().zip(&keep).for_each(|(o, k)| *o *= k);
                }
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        crate::worker::cuda::attention_probs((s1, l1), (s2, l2), None, self.scale, self.drop)
    }

    fn bwd(
        &self,
        scores: &Tensor,
        mask: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let ds = attention_probs_backward(scores, mask, dy, self.scale, self.drop)?;
        Ok((Some(ds), None))
    }
}

/// With y the softmax and g = dy * mask: d scores = y * (g - sum(g * y)) * scale. Inputs: the
/// scores, the padding mask, dy.
struct AttentionProbsGrad {
    scale: f32,
    drop: Option<DropMask>,
}

impl CustomOp3 for AttentionProbsGrad {
    fn name(&self) -> &'static str {
        "attention-probs-grad"
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
        let a = AttentionRows::new(s1, l1, s2, l2)?;
        let (dy, _) = rows(s3, l3, self.name())?;
        if dy.len() != a.scores.len() {
            candle_core::bail!("attention-probs-grad: shapes differ")
        }
        let w = a.width;
        let mut dx = vec![0f32; dy.len()];
        let group = row_group(w);
        dx.par_chunks_mut(group).enumerate().for_each(|(c, dx)| {
            let (mut y, mut g) = (vec![0f32; w], vec![0f32; w]);
            for (k, dx) in dx.chunks_mut(w).enumerate() {
                let r = c * (group / w) + k;
                a.softmax(r, self.scale, &mut y);
                g.copy_from_slice(&dy[r * w..(r + 1) * w]);
                if let Some(drop) = &self.drop {
                    drop.fill(r * w, dx);
                    g.iter_mut().zip(dx.iter()).for_each(|(g, k)| *g *= k);
                }
                softmax_grad_row(&y, &g, self.scale, dx);
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
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
        crate::worker::cuda::attention_probs(
            (s1, l1),
            (s2, l2),
            Some((s3, l3)),
            self.scale,
            self.drop,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::model::ops::dropout::Dropout;
    use crate::worker::model::ops::test_util::*;
    use candle_core::{D, Device};
    /// The row loops give the same bits at every vector level, a masked key included.
    #[test]
    fn the_same_at_every_vector_level() {
        let x: Vec<f32> = (0..77).map(|i| (i as f32 * 0.29).sin() * 3.0).collect();
        let mut mask = vec![0f32; 77];
        mask[70..].fill(-10_000.0);
        let g: Vec<f32> = (0..77).map(|i| (i as f32 * 0.11).cos()).collect();
        crate::worker::model::ops::simd::assert_same_at_every_level(|| {
            let (mut y, mut dx) = (vec![0f32; 77], vec![0f32; 77]);
            softmax_row(&x, &mask, 0.125, &mut y);
            softmax_grad_row(&y, &g, 0.125, &mut dx);
            (y, dx)
        });
    }

    /// The fused attention probabilities (with and without dropout) and the scores' gradient
    /// equal scale, mask, softmax and dropout done one by one.
    #[test]
    fn attention_probs_match_elementary_ops() -> Result<()> {
        let (b, nh, t) = (3, 2, 5);
        let mut mask = vec![0f32; b * t];
        mask[t - 1] = -10_000.0; // entry 0's last key is padding
        mask[2 * t - 2..2 * t].fill(-10_000.0);
        let mask = Tensor::from_vec(mask, (b, t), &Device::Cpu)?;
        for drop in [None, Some(DropMask { state: 5, p: 0.3 })] {
            let inputs = [random(&[b, nh, t, t], 4)?];
            let op = |x: &Tensor| x.apply_op2(&mask, AttentionProbs { scale: 0.25, drop });
            let fused = run(&inputs, |x| op(&x[0]))?;
            let plain = run(&inputs, |x| {
                let z = (&x[0] * 0.25)?.broadcast_add(&mask.reshape((b, 1, 1, t))?)?;
                let e = z.broadcast_sub(&z.max_keepdim(D::Minus1)?)?.exp()?;
                let y = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
                match drop {
                    Some(d) => y.apply_op1(Dropout(d)),
                    None => Ok(y),
                }
            })?;
            assert_close(&fused, &plain, 1e-5);
        }
        Ok(())
    }
}

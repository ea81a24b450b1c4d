//! LayerNorm over the last dimension with its affine part, one pass each way.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::CustomOp3;
use candle_core::{CpuStorage, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::dropout::DropMask;
use super::simd::{self, vectorised};
use super::{column_sum, column_sums, row_stats, rows};

vectorised! {
    /// One row's LayerNorm.
    pub(super) fn normalise_row(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) {
        let (mean, inv) = row_stats(x, eps);
        for (((o, v), g), b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
            *o = (v - mean) * inv * g + b;
        }
    }
}

vectorised! {
    /// One row's dx and dy * x̂ (see [`LayerNormGrad`]).
    fn normalise_grad_row(
        x: &[f32],
        gamma: &[f32],
        dy: &[f32],
        eps: f32,
        dx: &mut [f32],
        dgx: &mut [f32],
    ) {
        let (mean, inv) = row_stats(x, eps);
        for ((o, v), d) in dgx.iter_mut().zip(x).zip(dy) {
            *o = d * ((v - mean) * inv);
        }
        // With g = dy * weight: Σ g = dy · weight and Σ g x̂ = weight · (dy * x̂).
        let n = x.len() as f32;
        let (mean_g, mean_gx) = (simd::dot(dy, gamma) / n, simd::dot(gamma, dgx) / n);
        for (((o, v), d), g) in dx.iter_mut().zip(x).zip(dy).zip(gamma) {
            let xhat = (v - mean) * inv;
            *o = (d * g - mean_g - xhat * mean_gx) * inv;
        }
    }
}

/// LayerNorm of the rows of `x`.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f32) -> Result<Tensor> {
    x.contiguous()?.apply_op3(weight, bias, LayerNorm { eps })
}

/// LayerNorm's gradients for `x`, the weight and the bias. One pass writes dx and dy * x̂ (for
/// the weight's gradient) as (2, rows, width); the weight's and bias's are column sums.
pub fn layer_norm_backward(
    x: &Tensor,
    weight: &Tensor,
    dy: &Tensor,
    eps: f32,
) -> Result<(Tensor, Tensor, Tensor)> {
    let dy = dy.contiguous()?;
    let planes = GradPlanes::Two;
    let both = x.apply_op3_no_bwd(weight, &dy, &LayerNormGrad { eps, planes })?;
    Ok((both.get(0)?, column_sum(&both.get(1)?)?, column_sum(&dy)?))
}

/// The gradients of `LayerNorm(x)` where `x = dropout(sublayer + bias) + skip`
/// ([`residual_layer_norm`](super::residual_layer_norm)), down to the sublayer.
pub struct ResidualNormGrads {
    /// x's gradient, which is the skip's.
    pub dx: Tensor,
    /// The sublayer's output's gradient: dx through the dropout mask.
    pub dsublayer: Tensor,
    pub dweight: Tensor,
    pub dbias: Tensor,
    /// The sublayer's bias's gradient, dsublayer's column sum.
    pub dsublayer_bias: Tensor,
}

/// [`ResidualNormGrads`] for the output's gradient `dy + dy_more` (two gradients meet at a
/// LayerNorm's output: the skip's and the next sublayer's; the sum is taken here, not by an op
/// of its own). One pass writes dx, dy * x̂, dx through the mask and dy as (4, rows, width);
/// one column sum (one launch on a GPU) sums the last three. LayerNorm's backward pass, the
/// sum, dropout and three column sums took six ops.
pub fn residual_norm_backward(
    x: &Tensor,
    weight: &Tensor,
    dy: &Tensor,
    dy_more: Option<&Tensor>,
    eps: f32,
    drop: Option<DropMask>,
) -> Result<ResidualNormGrads> {
    let dy = dy.contiguous()?;
    let more = dy_more.map(Tensor::contiguous).transpose()?;
    if more.as_ref().is_some_and(|m| m.shape() != dy.shape()) {
        candle_core::bail!("layer-norm-grad: the gradient's parts differ in shape")
    }
    let planes = GradPlanes::Four { drop, more };
    let all = x.apply_op3_no_bwd(weight, &dy, &LayerNormGrad { eps, planes })?;
    let sums = column_sums(&all.narrow(0, 1, 3)?)?;
    Ok(ResidualNormGrads {
        dx: all.get(0)?,
        dsublayer: all.get(2)?,
        dweight: sums.get(0)?,
        dsublayer_bias: sums.get(1)?,
        dbias: sums.get(2)?,
    })
}

/// LayerNorm over the last dimension: `(x - mean) / sqrt(var + eps) * weight + bias`. Inputs:
/// x (rows, width), weight and bias (width).
pub struct LayerNorm {
    pub eps: f32,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "layer-norm"
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
        let (x, w) = rows(s1, l1, self.name())?;
        let (gamma, _) = rows(s2, l2, self.name())?;
        let (beta, _) = rows(s3, l3, self.name())?;
        if gamma.len() != w || beta.len() != w {
            candle_core::bail!("layer-norm: weight and bias must have the rows' width {w}")
        }
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(w)
            .zip(x.par_chunks(w))
            .for_each(|(y, x)| normalise_row(x, gamma, beta, self.eps, y));
        Ok((CpuStorage::F32(y), l1.shape().clone()))
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
        crate::worker::cuda::layer_norm((s1, l1), (s2, l2), (s3, l3), self.eps)
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dgamma, dbeta) = layer_norm_backward(x, gamma, dy, self.eps)?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

/// With x̂ = (x - mean) / sigma and g = dy * weight: dx = (g - mean(g) - x̂ * mean(g * x̂)) /
/// sigma, written as the first plane of a (planes, rows, width) output; dy * x̂ the second.
struct LayerNormGrad {
    eps: f32,
    planes: GradPlanes,
}

/// The planes [`LayerNormGrad`] writes.
enum GradPlanes {
    /// dx and dy * x̂.
    Two,
    /// Those, dx through a dropout mask (`None`: all kept), and dy itself, which is the op's dy
    /// plus `more` when given (read from its storage: a custom op takes three inputs).
    Four {
        drop: Option<DropMask>,
        more: Option<Tensor>,
    },
}

impl GradPlanes {
    fn count(&self) -> usize {
        match self {
            GradPlanes::Two => 2,
            GradPlanes::Four { .. } => 4,
        }
    }
}

vectorised! {
    /// `out = a + b` for one row.
    fn add_row(a: &[f32], b: &[f32], out: &mut [f32]) {
        for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
            *o = a + b;
        }
    }
}

impl CustomOp3 for LayerNormGrad {
    fn name(&self) -> &'static str {
        "layer-norm-grad"
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
        let name = "layer-norm-grad";
        let (x, w) = rows(s1, l1, name)?;
        let (gamma, _) = rows(s2, l2, name)?;
        let (dy, _) = rows(s3, l3, name)?;
        if dy.len() != x.len() || gamma.len() != w {
            candle_core::bail!("layer-norm-grad: shapes differ")
        }
        let n = x.len();
        let mut out = vec![0f32; self.planes.count() * n];
        let (dx, rest) = out.split_at_mut(n);
        let (dgx, rest) = rest.split_at_mut(n);
        let (dropped, dy_plane) = rest.split_at_mut(rest.len() / 2);
        let (dy, drop) = match &self.planes {
            GradPlanes::Two => (dy, None),
            GradPlanes::Four { drop, more } => {
                let guard = more.as_ref().map(Tensor::storage_and_layout);
                match &guard {
                    Some((storage, layout)) => {
                        let candle_core::Storage::Cpu(storage) = &**storage else {
                            candle_core::bail!("{name}: the gradient's parts are on two devices")
                        };
                        let (more, _) = rows(storage, layout, name)?;
                        dy_plane
                            .par_chunks_mut(w)
                            .zip(dy.par_chunks(w).zip(more.par_chunks(w)))
                            .for_each(|(o, (a, b))| add_row(a, b, o));
                    }
                    None => dy_plane.copy_from_slice(dy),
                }
                (&*dy_plane, Some(*drop))
            }
        };
        dx.par_chunks_mut(w)
            .zip(dgx.par_chunks_mut(w))
            .zip(x.par_chunks(w).zip(dy.par_chunks(w)))
            .for_each(|((dx, dgx), (x, dy))| normalise_grad_row(x, gamma, dy, self.eps, dx, dgx));
        if let Some(drop) = drop {
            // As dropout's backward pass: the mask, times the gradient.
            dropped
                .par_chunks_mut(w)
                .zip(dx.par_chunks(w))
                .enumerate()
                .for_each(|(r, (o, dx))| match &drop {
                    Some(drop) => {
                        drop.fill(r * w, o);
                        o.iter_mut().zip(dx).for_each(|(o, d)| *o *= d);
                    }
                    None => o.copy_from_slice(dx),
                });
        }
        let mut dims = vec![self.planes.count()];
        dims.extend_from_slice(l1.dims());
        Ok((CpuStorage::F32(out), Shape::from(dims)))
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
        let name = "layer-norm-grad";
        let (drop, more) = match &self.planes {
            GradPlanes::Two => {
                return crate::worker::cuda::layer_norm_grad(
                    (s1, l1),
                    (s2, l2),
                    (s3, l3),
                    self.eps,
                    None,
                );
            }
            GradPlanes::Four { drop, more } => {
                (*drop, more.as_ref().map(Tensor::storage_and_layout))
            }
        };
        let more = match &more {
            Some((storage, layout)) => {
                let candle_core::Storage::Cuda(storage) = &**storage else {
                    candle_core::bail!("{name}: the gradient's parts are on two devices")
                };
                Some((storage, *layout))
            }
            None => None,
        };
        crate::worker::cuda::layer_norm_grad(
            (s1, l1),
            (s2, l2),
            (s3, l3),
            self.eps,
            Some(crate::worker::cuda::FourPlanes { drop, more }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::model::ops::test_util::*;
    use candle_core::D;
    /// The row loops give the same bits at every vector level.
    #[test]
    fn the_same_at_every_vector_level() {
        let row = |k: f32| -> Vec<f32> { (0..389).map(|i| (i as f32 * k).sin()).collect() };
        let (x, gamma, beta, dy) = (row(0.37), row(0.05), row(0.13), row(0.71));
        crate::worker::model::ops::simd::assert_same_at_every_level(|| {
            let (mut y, mut dx, mut dgx) = (vec![0f32; 389], vec![0f32; 389], vec![0f32; 389]);
            normalise_row(&x, &gamma, &beta, 1e-12, &mut y);
            normalise_grad_row(&x, &gamma, &dy, 1e-12, &mut dx, &mut dgx);
            (y, dx, dgx)
        });
    }

    /// The residual form's gradients are those of the gradient's sum, LayerNorm's, dropout's and
    /// a column sum's, bit for bit.
    #[test]
    fn residual_backward_is_norm_dropout_and_sum() -> Result<()> {
        let (x, weight, dy) = (
            random(&[45, 37], 1)?,
            random(&[37], 2)?,
            random(&[45, 37], 3)?,
        );
        let more = random(&[45, 37], 4)?;
        let drops = [None, Some(DropMask { state: 8, p: 0.3 })];
        for (drop, more) in drops
            .into_iter()
            .flat_map(|d| [(d, None), (d, Some(&more))])
        {
            let g = residual_norm_backward(&x, &weight, &dy, more, 1e-12, drop)?;
            let sum = match more {
                Some(more) => (&dy + more)?,
                None => dy.clone(),
            };
            let (dx, dweight, dbias) = layer_norm_backward(&x, &weight, &sum, 1e-12)?;
            let dsublayer = super::super::dropout(&dx, drop)?;
            let dsublayer_bias = column_sum(&dsublayer)?;
            for (fused, plain) in [
                (&g.dx, &dx),
                (&g.dsublayer, &dsublayer),
                (&g.dweight, &dweight),
                (&g.dbias, &dbias),
                (&g.dsublayer_bias, &dsublayer_bias),
            ] {
                assert_eq!(
                    fused.flatten_all()?.to_vec1::<f32>()?,
                    plain.flatten_all()?.to_vec1::<f32>()?
                );
            }
        }
        Ok(())
    }

    /// The fused LayerNorm and its three gradients equal candle's elementary ops'.
    #[test]
    fn layer_norm_matches_elementary_ops() -> Result<()> {
        let inputs = [random(&[37, 64], 1)?, random(&[64], 2)?, random(&[64], 3)?];
        let fused = run(&inputs, |t| {
            t[0].apply_op3(&t[1], &t[2], LayerNorm { eps: 1e-12 })
        })?;
        let plain = run(&inputs, |t| {
            let mean = t[0].mean_keepdim(D::Minus1)?;
            let centred = t[0].broadcast_sub(&mean)?;
            let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
            let normed = centred.broadcast_div(&(var + 1e-12)?.sqrt()?)?;
            normed.broadcast_mul(&t[1])?.broadcast_add(&t[2])
        })?;
        assert_close(&fused, &plain, 1e-4);
        Ok(())
    }
}

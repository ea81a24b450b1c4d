//! LayerNorm over the last dimension with its affine part, one pass each way.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::CustomOp3;
use candle_core::{CpuStorage, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd::{self, vectorised};
use super::{column_sum, row_stats, rows};

vectorised! {
    /// One row's LayerNorm.
    fn normalise_row(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) {
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
    let both = x.apply_op3_no_bwd(weight, &dy, &LayerNormGrad { eps })?;
    Ok((both.get(0)?, column_sum(&both.get(1)?)?, column_sum(&dy)?))
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
/// sigma, written as the first half of a (2, rows, width) output; dy * x̂ the second half.
struct LayerNormGrad {
    eps: f32,
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
        let (x, w) = rows(s1, l1, self.name())?;
        let (gamma, _) = rows(s2, l2, self.name())?;
        let (dy, _) = rows(s3, l3, self.name())?;
        if dy.len() != x.len() || gamma.len() != w {
            candle_core::bail!("layer-norm-grad: shapes differ")
        }
        let mut out = vec![0f32; 2 * x.len()];
        let (dx, dgx) = out.split_at_mut(x.len());
        dx.par_chunks_mut(w)
            .zip(dgx.par_chunks_mut(w))
            .zip(x.par_chunks(w).zip(dy.par_chunks(w)))
            .for_each(|((dx, dgx), (x, dy))| normalise_grad_row(x, gamma, dy, self.eps, dx, dgx));
        let mut dims = vec![2];
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
        crate::worker::cuda::layer_norm_grad((s1, l1), (s2, l2), (s3, l3), self.eps)
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

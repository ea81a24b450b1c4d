//! A sublayer's output joining the residual stream and the LayerNorm after it,
//! `LayerNorm(dropout(x + bias) + skip)`, in one pass. Unfused it is three ops (a broadcast add,
//! dropout, an add) and the LayerNorm, each a pass over the activations and, on a GPU, a
//! launch; the broadcast add also uploads its strides.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::CustomOp3;
use candle_core::{CpuStorage, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::dropout::DropMask;
use super::layer_norm::{layer_norm, normalise_row};
use super::simd::vectorised;
use super::{dropout, rows};

/// `dropout(x + bias) + skip` as candle's ops and dropout's, each with its backward pass.
fn unfused(x: &Tensor, bias: &Tensor, skip: &Tensor, drop: Option<DropMask>) -> Result<Tensor> {
    dropout(&x.broadcast_add(bias)?, drop)? + skip
}

/// `residual = dropout(x + bias) + skip` and `LayerNorm(residual)` with the LayerNorm's
/// weight and bias, in one op: returns the residual when asked to `keep` it (the backward pass
/// needs it; inference does not, and the op then writes the LayerNorm's output alone) and the
/// LayerNorm's output. When candle's autograd follows any input (the tests' oracle), it is
/// candle's add, dropout, an add and [`layer_norm`], which have backward passes; they give the
/// same bits.
pub fn residual_layer_norm(
    x: &Tensor,
    bias: &Tensor,
    skip: &Tensor,
    drop: Option<DropMask>,
    (weight, norm_bias, eps): (&Tensor, &Tensor, f32),
    keep: bool,
) -> Result<(Option<Tensor>, Tensor)> {
    if [x, bias, skip, weight, norm_bias]
        .iter()
        .any(|t| t.track_op())
    {
        let residual = unfused(x, bias, skip, drop)?;
        let y = layer_norm(&residual, weight, norm_bias, eps)?;
        return Ok((keep.then_some(residual), y));
    }
    let op = ResidualLayerNorm {
        bias: bias.contiguous()?,
        norm_bias: norm_bias.contiguous()?,
        eps,
        drop,
        keep,
    };
    let out = x
        .contiguous()?
        .apply_op3_no_bwd(&skip.contiguous()?, &weight.contiguous()?, &op)?;
    match keep {
        true => Ok((Some(out.get(0)?), out.get(1)?)),
        false => Ok((None, out)),
    }
}

/// `dropout(x + bias) + skip` and its LayerNorm as (2, rows, width), or with `keep` off the
/// LayerNorm alone as (rows, width); see [`residual_layer_norm`]. Inputs: x, skip and the
/// LayerNorm's weight; the sublayer's bias and the LayerNorm's bias are read from their
/// storage (a custom op takes three inputs).
pub struct ResidualLayerNorm {
    pub bias: Tensor,
    pub norm_bias: Tensor,
    pub eps: f32,
    pub drop: Option<DropMask>,
    pub keep: bool,
}

impl CustomOp3 for ResidualLayerNorm {
    fn name(&self) -> &'static str {
        "residual-layer-norm"
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
        let name = self.name();
        let (x, w) = rows(s1, l1, name)?;
        let (skip, _) = rows(s2, l2, name)?;
        let (gamma, _) = rows(s3, l3, name)?;
        let (bias_storage, bias_layout) = self.bias.storage_and_layout();
        let (beta_storage, beta_layout) = self.norm_bias.storage_and_layout();
        let (candle_core::Storage::Cpu(bias), candle_core::Storage::Cpu(beta)) =
            (&*bias_storage, &*beta_storage)
        else {
            candle_core::bail!("{name}: the biases are not on the CPU")
        };
        let (bias, _) = rows(bias, bias_layout, name)?;
        let (beta, _) = rows(beta, beta_layout, name)?;
        if skip.len() != x.len() || [bias.len(), gamma.len(), beta.len()] != [w; 3] {
            candle_core::bail!(
                "{name}: the skip must have x's shape, the biases and weight the rows' width {w}"
            )
        }
        let n = x.len();
        let residual_row =
            |r: usize, x: &[f32], skip: &[f32], residual: &mut [f32]| match &self.drop {
                None => add_row(x, bias, skip, residual),
                Some(drop) => {
                    drop.fill(r * w, residual);
                    drop_add_row(x, bias, skip, residual);
                }
            };
        let inputs = || x.par_chunks(w).zip(skip.par_chunks(w));
        if !self.keep {
            // Each thread's residual row lives in a scratch row of its own.
            let mut y = vec![0f32; n];
            y.par_chunks_mut(w).zip(inputs()).enumerate().for_each_init(
                || vec![0f32; w],
                |residual, (r, (y, (x, skip)))| {
                    residual_row(r, x, skip, residual);
                    normalise_row(residual, gamma, beta, self.eps, y);
                },
            );
            return Ok((CpuStorage::F32(y), l1.shape().clone()));
        }
        let mut out = vec![0f32; 2 * n];
        let (residual, y) = out.split_at_mut(n);
        residual
            .par_chunks_mut(w)
            .zip(y.par_chunks_mut(w).zip(inputs()).enumerate())
            .for_each(|(residual, (r, (y, (x, skip))))| {
                residual_row(r, x, skip, residual);
                normalise_row(residual, gamma, beta, self.eps, y);
            });
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
        let name = self.name();
        let (bias_storage, bias_layout) = self.bias.storage_and_layout();
        let (beta_storage, beta_layout) = self.norm_bias.storage_and_layout();
        let (candle_core::Storage::Cuda(bias), candle_core::Storage::Cuda(beta)) =
            (&*bias_storage, &*beta_storage)
        else {
            candle_core::bail!("{name}: the biases are not on the GPU")
        };
        crate::worker::cuda::residual_layer_norm(
            [(s1, l1), (s2, l2), (s3, l3)],
            [(bias, bias_layout), (beta, beta_layout)],
            self.eps,
            self.drop,
            self.keep,
        )
    }
}

vectorised! {
    /// One row without dropout: `x + bias + skip`, added in that order.
    fn add_row(x: &[f32], bias: &[f32], skip: &[f32], y: &mut [f32]) {
        for (((o, v), b), s) in y.iter_mut().zip(x).zip(bias).zip(skip) {
            *o = (v + b) + s;
        }
    }
}

vectorised! {
    /// One row with dropout: `y` holds the row's mask on entry.
    fn drop_add_row(x: &[f32], bias: &[f32], skip: &[f32], y: &mut [f32]) {
        for (((o, v), b), s) in y.iter_mut().zip(x).zip(bias).zip(skip) {
            *o = *o * (v + b) + s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::model::ops::test_util::*;

    /// The row loops give the same bits at every vector level.
    #[test]
    fn the_same_at_every_vector_level() {
        let row = |k: f32| -> Vec<f32> { (0..389).map(|i| (i as f32 * k).sin()).collect() };
        let (x, bias, skip) = (row(0.37), row(0.05), row(0.13));
        crate::worker::model::ops::simd::assert_same_at_every_level(|| {
            let mut plain = vec![0f32; 389];
            add_row(&x, &bias, &skip, &mut plain);
            let mut dropped = row(0.71);
            drop_add_row(&x, &bias, &skip, &mut dropped);
            (plain, dropped)
        });
    }

    /// With its LayerNorm: the same bits as the two ops, with the residual kept or not, and
    /// those two ops when autograd follows it.
    #[test]
    fn with_its_layer_norm_equals_the_two_ops() -> Result<()> {
        let [x, bias, skip, weight, beta] = [
            random(&[301, 37], 1)?,
            random(&[37], 2)?,
            random(&[301, 37], 3)?,
            random(&[37], 4)?,
            random(&[37], 5)?,
        ];
        for drop in [None, Some(DropMask { state: 5, p: 0.25 })] {
            let norm = (&weight, &beta, 1e-12);
            let (residual, y) = residual_layer_norm(&x, &bias, &skip, drop, norm, true)?;
            let residual = residual.expect("kept");
            let (none, alone) = residual_layer_norm(&x, &bias, &skip, drop, norm, false)?;
            assert!(none.is_none());
            // Regression: inference held each LayerNorm's output as a view into a buffer twice
            // its size (the residual beside it), which raised scoring's peak memory by a fifth.
            {
                let (storage, _) = alone.storage_and_layout();
                let candle_core::Storage::Cpu(CpuStorage::F32(held)) = &*storage else {
                    panic!("f32 on the CPU")
                };
                assert_eq!(held.len(), alone.elem_count());
            }
            assert_eq!(
                alone.flatten_all()?.to_vec1::<f32>()?,
                y.flatten_all()?.to_vec1::<f32>()?
            );
            let plain = unfused(&x, &bias, &skip, drop)?;
            let plain_y = layer_norm(&plain, &weight, &beta, 1e-12)?;
            for (a, b) in [(&residual, &plain), (&y, &plain_y)] {
                assert_eq!(
                    a.flatten_all()?.to_vec1::<f32>()?,
                    b.flatten_all()?.to_vec1::<f32>()?
                );
            }
            let tracked = candle_core::Var::from_tensor(&x)?;
            let (_, y) = residual_layer_norm(
                tracked.as_tensor(),
                &bias,
                &skip,
                drop,
                (&weight, &beta, 1e-12),
                true,
            )?;
            assert!(y.track_op(), "autograd follows the two ops");
            assert_eq!(
                y.flatten_all()?.to_vec1::<f32>()?,
                plain_y.flatten_all()?.to_vec1::<f32>()?
            );
        }
        Ok(())
    }

    /// When autograd follows it, the residual and every input's gradient (the bias's
    /// included) are those of the three ops it stands for. Rows of 37 make rayon's groups of
    /// rows start mid-way through the mask's stream.
    #[test]
    fn equals_add_dropout_add() -> Result<()> {
        let inputs = [
            random(&[301, 37], 1)?,
            random(&[37], 2)?,
            random(&[301, 37], 3)?,
        ];
        let (weight, beta) = (random(&[37], 4)?, random(&[37], 5)?);
        for drop in [None, Some(DropMask { state: 5, p: 0.25 })] {
            let fused = run(&inputs, |t| {
                let norm = (&weight, &beta, 1e-12);
                let (residual, _) = residual_layer_norm(&t[0], &t[1], &t[2], drop, norm, true)?;
                Ok(residual.expect("kept"))
            })?;
            let plain = run(&inputs, |t| {
                dropout(&t[0].broadcast_add(&t[1])?, drop)? + &t[2]
            })?;
            // The output bit for bit; the bias's gradient is summed in another order.
            assert_eq!(fused[0], plain[0]);
            assert_close(&fused, &plain, 1e-5);
        }
        Ok(())
    }
}

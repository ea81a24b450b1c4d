//! Fused kernels for the operations that dominate BERT's small-op time: layer normalisation,
//! softmax and dropout. Each is one pass forward and one pass backward, where the same maths
//! from candle's elementary ops takes seven to nine tensors (and as many allocations) each way.
//! On the CPU rows run in parallel with rayon; with the `cuda` feature the same maths runs as
//! the CUDA kernels of src/worker/cuda/kernels.cu.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Rows of a contiguous f32 tensor, by the size of its last dimension.
fn rows<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<(&'a [f32], usize)> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op}: expected f32")
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{op}: expected a contiguous tensor")
    };
    let width = layout.dims().last().copied().unwrap_or(1).max(1);
    Ok((&data[start..end], width))
}

/// A backward kernel's frame: for each row of `a` and the matching row of the incoming
/// gradient, `f(out_row, a_row, grad_row)` writes the output row; rows run in parallel.
fn map_row_pairs(
    op: &str,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    f: impl Fn(&mut [f32], &[f32], &[f32]) + Sync,
) -> Result<(CpuStorage, Shape)> {
    let (a, w) = rows(s1, l1, op)?;
    let (g, _) = rows(s2, l2, op)?;
    if a.len() != g.len() {
        candle_core::bail!("{op}: shapes differ")
    }
    let mut out = vec![0f32; a.len()];
    out.par_chunks_mut(w)
        .zip(a.par_chunks(w))
        .zip(g.par_chunks(w))
        .for_each(|((o, a), g)| f(o, a, g));
    Ok((CpuStorage::F32(out), l1.shape().clone()))
}

/// `(x - mean) / sqrt(var + eps)` over the last dimension.
pub struct Normalize {
    pub eps: f32,
}

fn row_stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp1 for Normalize {
    fn name(&self) -> &'static str {
        "normalize"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, w) = rows(s, l, self.name())?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(w).zip(x.par_chunks(w)).for_each(|(y, x)| {
            let (mean, inv) = row_stats(x, self.eps);
            for (o, v) in y.iter_mut().zip(x) {
                *o = (v - mean) * inv;
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        crate::worker::cuda::rows("yj_normalize", &[(s, l)], Some(self.eps))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(
            &dy.contiguous()?,
            &NormalizeGrad { eps: self.eps },
        )?))
    }
}

/// dx = (dy - mean(dy) - y * mean(dy * y)) / sigma, with y and sigma recomputed from x.
struct NormalizeGrad {
    eps: f32,
}

impl CustomOp2 for NormalizeGrad {
    fn name(&self) -> &'static str {
        "normalize-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        map_row_pairs(self.name(), (s1, l1), (s2, l2), |dx, x, dy| {
            let (mean, inv) = row_stats(x, self.eps);
            let n = x.len() as f32;
            let mut sum_dy = 0.0;
            let mut sum_dy_y = 0.0;
            for (v, g) in x.iter().zip(dy) {
                sum_dy += g;
                sum_dy_y += g * (v - mean) * inv;
            }
            let (mean_dy, mean_dy_y) = (sum_dy / n, sum_dy_y / n);
            for ((o, v), g) in dx.iter_mut().zip(x).zip(dy) {
                *o = (g - mean_dy - (v - mean) * inv * mean_dy_y) * inv;
            }
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        crate::worker::cuda::rows("yj_normalize_grad", &[(s1, l1), (s2, l2)], Some(self.eps))
    }
}

/// Softmax over the last dimension.
pub struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, w) = rows(s, l, self.name())?;
        let mut y = vec![0f32; x.len()];
        // Attention rows are short (one per key): hand rayon groups of rows.
        let group = w * (256 / w).max(1);
        y.par_chunks_mut(group)
            .zip(x.par_chunks(group))
            .for_each(|(y, x)| {
                for (y, x) in y.chunks_mut(w).zip(x.chunks(w)) {
                    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for (o, v) in y.iter_mut().zip(x) {
                        *o = (v - max).exp();
                        sum += *o;
                    }
                    let inv = 1.0 / sum;
                    y.iter_mut().for_each(|o| *o *= inv);
                }
            });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        crate::worker::cuda::rows("yj_softmax", &[(s, l)], None)
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(y.apply_op2_no_bwd(&dy.contiguous()?, &SoftmaxGrad)?))
    }
}

/// dx = y * (dy - sum(dy * y)).
struct SoftmaxGrad;

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        map_row_pairs(self.name(), (s1, l1), (s2, l2), |dx, y, dy| {
            let dot: f32 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
            for ((o, a), g) in dx.iter_mut().zip(y).zip(dy) {
                *o = a * (g - dot);
            }
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        crate::worker::cuda::rows("yj_softmax_grad", &[(s1, l1), (s2, l2)], None)
    }
}

/// Inverted dropout: `x * mask`, where element i is dropped (0) with probability `p` and kept
/// (times 1/(1-p)) otherwise, by the (i+1)-th draw of the counter-based stream whose state is
/// `state` (src/worker/rng.rs). Each element's draw depends on its index alone, so elements run
/// in parallel, the GPU draws the CPU's mask, and the backward pass is the same op on the
/// gradient.
#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    pub state: u64,
    pub p: f32,
}

impl Dropout {
    fn scale(&self) -> f32 {
        1.0 / (1.0 - self.p)
    }
}

impl CustomOp1 for Dropout {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, _) = rows(s, l, self.name())?;
        let (p, scale) = (self.p, self.scale());
        let mut y = vec![0f32; x.len()];
        const CHUNK: usize = 16 * 1024;
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .enumerate()
            .for_each(|(c, (y, x))| {
                let mut rng = crate::worker::rng::SplitMix64::at(self.state, (c * CHUNK) as u64);
                for (o, v) in y.iter_mut().zip(x) {
                    *o = v * if rng.next_f32() < p { 0.0 } else { scale };
                }
            });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        crate::worker::cuda::dropout(s, l, self.state, self.p, self.scale())
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(dy.contiguous()?.apply_op1_no_bwd(self)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::rng::SplitMix64;
    use candle_core::Device;

    /// The parallel kernel draws exactly the sequential stream: element i is dropped by the
    /// stream's i-th draw, kept ones are scaled, and the gradient goes through the same mask.
    #[test]
    fn dropout_is_the_sequential_stream() -> Result<()> {
        let n = 70_001; // several rayon chunks and a ragged end
        let op = Dropout { state: 99, p: 0.25 };
        let x = candle_core::Var::from_tensor(&Tensor::ones(
            n,
            candle_core::DType::F32,
            &Device::Cpu,
        )?)?;
        let y = x.as_tensor().apply_op1(op)?;
        let grads = y.sum_all()?.backward()?;
        let (y, dx) = (
            y.to_vec1::<f32>()?,
            grads
                .get(x.as_tensor())
                .expect("a gradient")
                .to_vec1::<f32>()?,
        );
        let mut rng = SplitMix64::at(99, 0);
        let mut dropped = 0;
        for i in 0..n {
            let expected = if rng.next_f32() < 0.25 {
                0.0
            } else {
                1.0 / 0.75
            };
            dropped += usize::from(expected == 0.0);
            assert_eq!((y[i], dx[i]), (expected, expected), "element {i}");
        }
        assert!(
            (dropped as f64 / n as f64 - 0.25).abs() < 0.01,
            "{dropped} of {n} dropped"
        );
        Ok(())
    }
}

//! AdamW as transformers uses it: decoupled weight decay (not on biases and LayerNorm), bias
//! correction, gradient clipping by global norm. On the CPU one fused pass updates each tensor
//! in place (candle-nn's AdamW allocates a dozen tensors per parameter and step); on a GPU two
//! in-place kernels per parameter do the same (src/worker/cuda/kernels.cu), and the gradient
//! norm is summed on the device, so a step reads one number back.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Result, Storage, Tensor, Var};
use rayon::prelude::*;
use std::borrow::Cow;

pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Steps taken so far (for bias correction).
    pub t: u64,
    moments: Moments,
    decay: Vec<bool>,
}

/// First and second moments, one pair per parameter, kept where the parameters live: host
/// vectors that the CPU update mutates in place, or one tensor [m | v] per parameter on the GPU,
/// so that a GPU step never copies parameters or gradients through the host.
enum Moments {
    Host { m: Vec<Vec<f32>>, v: Vec<Vec<f32>> },
    Device { mv: Vec<Tensor> },
}

impl AdamW {
    pub fn new(vars: &[Var], decay: Vec<bool>, weight_decay: f64) -> Result<AdamW> {
        let on_cpu = vars.iter().all(|v| v.device().is_cpu());
        Self::with_host_moments(vars, decay, weight_decay, on_cpu)
    }

    /// `host_moments: false` runs the GPU's update, also on the CPU (tests).
    fn with_host_moments(
        vars: &[Var],
        decay: Vec<bool>,
        weight_decay: f64,
        host_moments: bool,
    ) -> Result<AdamW> {
        let moments = if host_moments {
            let zeros = || vars.iter().map(|v| vec![0f32; v.elem_count()]).collect();
            Moments::Host {
                m: zeros(),
                v: zeros(),
            }
        } else {
            let mv = vars
                .iter()
                .map(|v| Tensor::zeros(2 * v.elem_count(), DType::F32, v.device()))
                .collect::<Result<_>>()?;
            Moments::Device { mv }
        };
        Ok(AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            t: 0,
            moments,
            decay,
        })
    }

    /// Parameter `i`'s moments as host vectors (for a checkpoint).
    pub fn moments(&self, i: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        match &self.moments {
            Moments::Host { m, v } => Ok((m[i].clone(), v[i].clone())),
            Moments::Device { mv } => {
                let mut first = mv[i].to_vec1::<f32>()?;
                let second = first.split_off(first.len() / 2);
                Ok((first, second))
            }
        }
    }

    /// Restores parameter `i`'s moments (from a checkpoint).
    pub fn set_moments(&mut self, i: usize, first: Vec<f32>, second: Vec<f32>) -> Result<()> {
        match &mut self.moments {
            Moments::Host { m, v } => {
                if first.len() != m[i].len() || second.len() != v[i].len() {
                    candle_core::bail!("optimizer moments {i}: wrong size")
                }
                m[i] = first;
                v[i] = second;
            }
            Moments::Device { mv } => {
                if first.len() + second.len() != mv[i].elem_count() {
                    candle_core::bail!("optimizer moments {i}: wrong size")
                }
                let joined = [first, second].concat();
                mv[i] = Tensor::from_vec(joined, mv[i].shape(), mv[i].device())?;
            }
        }
        Ok(())
    }

    /// One update; returns the gradient norm before clipping.
    pub fn step(
        &mut self,
        vars: &[Var],
        grads: &GradStore,
        lr: f64,
        max_grad_norm: Option<f64>,
    ) -> Result<f64> {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        let grads: Vec<Option<&Tensor>> = vars.iter().map(|v| grads.get(v.as_tensor())).collect();
        // Decoupled weight decay of parameter i for this step (none on biases and LayerNorm).
        let decay = |i: usize| {
            if self.decay[i] {
                lr * self.weight_decay
            } else {
                0.0
            }
        };
        match &mut self.moments {
            Moments::Host { m, v } => {
                // Read each gradient where backward left it, without copying (a step's
                // gradients are as large as the model); the read locks end with the step.
                let guards: Vec<Option<_>> = grads
                    .iter()
                    .map(|g| g.map(Tensor::storage_and_layout))
                    .collect();
                let host: Vec<Option<Cow<[f32]>>> = guards
                    .iter()
                    .zip(&grads)
                    .map(|(guard, g)| match (guard, g) {
                        (Some((storage, layout)), Some(g)) => {
                            match (&**storage, layout.contiguous_offsets()) {
                                (Storage::Cpu(CpuStorage::F32(data)), Some((a, b))) => {
                                    Ok(Some(Cow::Borrowed(&data[a..b])))
                                }
                                _ => Ok(Some(Cow::Owned(g.flatten_all()?.to_vec1::<f32>()?))),
                            }
                        }
                        _ => Ok(None),
                    })
                    .collect::<Result<_>>()?;
                let norm = host
                    .iter()
                    .flatten()
                    .map(|g| g.par_iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>())
                    .sum::<f64>()
                    .sqrt();
                let clip = clip_factor(norm, max_grad_norm);
                for (i, ((var, m), v)) in vars.iter().zip(m).zip(v).enumerate() {
                    let Some(g) = &host[i] else { continue };
                    let update = Update {
                        grad: g,
                        m: std::sync::Mutex::new(m),
                        v: std::sync::Mutex::new(v),
                        lr: lr as f32,
                        decay: decay(i) as f32,
                        clip: clip as f32,
                        beta1: self.beta1 as f32,
                        beta2: self.beta2 as f32,
                        eps: self.eps as f32,
                        bc1: bc1 as f32,
                        bc2_sqrt: bc2.sqrt() as f32,
                    };
                    var.as_tensor().inplace_op1(&update)?;
                }
                Ok(norm)
            }
            Moments::Device { mv } => {
                let grads: Vec<Option<Tensor>> = grads
                    .iter()
                    .map(|g| g.map(Tensor::contiguous).transpose())
                    .collect::<Result<_>>()?;
                // One host sync per step: the global norm, summed on the device.
                let Some(first) = grads.iter().flatten().next() else {
                    return Ok(0.0);
                };
                let sum = Tensor::zeros(1, DType::F32, first.device())?;
                for g in grads.iter().flatten() {
                    sum.inplace_op2(g, &SumSquares)?;
                }
                let norm = (sum.to_vec1::<f32>()?[0] as f64).sqrt();
                let clip = clip_factor(norm, max_grad_norm);
                for (i, var) in vars.iter().enumerate() {
                    let Some(g) = &grads[i] else { continue };
                    let moments = MomentsUpdate {
                        clip: clip as f32,
                        beta1: self.beta1 as f32,
                        beta2: self.beta2 as f32,
                    };
                    mv[i].inplace_op2(g, &moments)?;
                    let step = ParamsUpdate {
                        step: (lr / bc1) as f32,
                        decay: decay(i) as f32,
                        bc2_sqrt: bc2.sqrt() as f32,
                        eps: self.eps as f32,
                    };
                    var.as_tensor().inplace_op2(&mv[i], &step)?;
                }
                Ok(norm)
            }
        }
    }
}

fn clip_factor(norm: f64, max_grad_norm: Option<f64>) -> f64 {
    if let Some(max_grad_norm) = max_grad_norm
        && norm > max_grad_norm
    {
        max_grad_norm / (norm + 1e-6)
    } else {
        1.0
    }
}

struct Update<'a> {
    grad: &'a [f32],
    m: std::sync::Mutex<&'a mut Vec<f32>>,
    v: std::sync::Mutex<&'a mut Vec<f32>>,
    lr: f32,
    decay: f32,
    clip: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    bc1: f32,
    bc2_sqrt: f32,
}

impl Update<'_> {
    fn apply(&self, p: &mut [f32]) {
        let mut m = self.m.lock().unwrap_or_else(|e| e.into_inner());
        let mut v = self.v.lock().unwrap_or_else(|e| e.into_inner());
        const CHUNK: usize = 16 * 1024;
        p.par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(self.grad.par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| {
                let step = self.lr / self.bc1;
                for i in 0..p.len() {
                    let g = g[i] * self.clip;
                    m[i] = self.beta1 * m[i] + (1.0 - self.beta1) * g;
                    v[i] = self.beta2 * v[i] + (1.0 - self.beta2) * g * g;
                    let denom = v[i].sqrt() / self.bc2_sqrt + self.eps;
                    p[i] -= self.decay * p[i] + step * m[i] / denom;
                }
            });
    }
}

impl candle_core::InplaceOp1 for Update<'_> {
    fn name(&self) -> &'static str {
        "adamw-update"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("adamw-update: parameters must be f32")
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("adamw-update: parameter is not contiguous")
        };
        self.apply(&mut data[start..end]);
        Ok(())
    }
}

/// Contiguous f32 data of a CPU storage (what the in-place kernels below accept).
fn cpu_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let (CpuStorage::F32(data), Some((a, b))) = (s, l.contiguous_offsets()) else {
        candle_core::bail!("{op}: expected a contiguous f32 tensor")
    };
    Ok(&data[a..b])
}

fn cpu_slice_mut<'a>(s: &'a mut CpuStorage, l: &Layout, op: &str) -> Result<&'a mut [f32]> {
    let (CpuStorage::F32(data), Some((a, b))) = (s, l.contiguous_offsets()) else {
        candle_core::bail!("{op}: expected a contiguous f32 tensor")
    };
    Ok(&mut data[a..b])
}

/// The element count of `tensor`, after checking that `moments`, [m | v], holds twice as many.
fn moments_len(op: &str, moments: &Layout, tensor: &Layout) -> Result<usize> {
    let n = tensor.shape().elem_count();
    if moments.shape().elem_count() != 2 * n {
        candle_core::bail!("{op}: moments and tensor sizes differ")
    }
    Ok(n)
}

/// `sum[0] += Σ g²` (the GPU's gradient norm, without a host sync per tensor).
struct SumSquares;

impl SumSquares {
    fn len(&self, sum: &Layout, g: &Layout) -> Result<usize> {
        if sum.shape().elem_count() != 1 {
            candle_core::bail!("sum-squares: the sum must be one number")
        }
        Ok(g.shape().elem_count())
    }
}

impl InplaceOp2 for SumSquares {
    fn name(&self) -> &'static str {
        "sum-squares"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        self.len(l1, l2)?;
        let g = cpu_slice(s2, l2, self.name())?;
        let sum = cpu_slice_mut(s1, l1, self.name())?;
        sum[0] += g.iter().map(|x| x * x).sum::<f32>();
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &mut CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<()> {
        let n = self.len(l1, l2)?;
        crate::worker::cuda::in_place("yj_sum_squares", (s1, l1), (s2, l2), n, &[])
    }
}

/// AdamW's moments [m | v] from a (clipped) gradient: the first half of the GPU's update.
struct MomentsUpdate {
    clip: f32,
    beta1: f32,
    beta2: f32,
}

impl InplaceOp2 for MomentsUpdate {
    fn name(&self) -> &'static str {
        "adam-moments"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let n = moments_len(self.name(), l1, l2)?;
        let g = cpu_slice(s2, l2, self.name())?;
        let (m, v) = cpu_slice_mut(s1, l1, self.name())?.split_at_mut(n);
        for ((m, v), g) in m.iter_mut().zip(v).zip(g) {
            let g = g * self.clip;
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
        }
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &mut CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<()> {
        let n = moments_len(self.name(), l1, l2)?;
        let params = [self.clip, self.beta1, self.beta2];
        crate::worker::cuda::in_place("yj_adam_moments", (s1, l1), (s2, l2), n, &params)
    }
}

/// A parameter's step from its moments [m | v]: the second half of the GPU's update.
struct ParamsUpdate {
    /// lr / (1 - beta1^t)
    step: f32,
    /// lr * weight decay, or 0
    decay: f32,
    bc2_sqrt: f32,
    eps: f32,
}

impl InplaceOp2 for ParamsUpdate {
    fn name(&self) -> &'static str {
        "adam-params"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let n = moments_len(self.name(), l2, l1)?;
        let mv = cpu_slice(s2, l2, self.name())?;
        let p = cpu_slice_mut(s1, l1, self.name())?;
        let (m, v) = mv.split_at(n);
        for ((p, m), v) in p.iter_mut().zip(m).zip(v) {
            let denom = v.sqrt() / self.bc2_sqrt + self.eps;
            *p -= self.decay * *p + self.step * m / denom;
        }
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &mut CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<()> {
        let n = moments_len(self.name(), l2, l1)?;
        let params = [self.step, self.decay, self.bc2_sqrt, self.eps];
        crate::worker::cuda::in_place("yj_adam_params", (s1, l1), (s2, l2), n, &params)
    }
}

/// Linear warm-up to `peak`, then linear decay to 0 (transformers' default schedule), or
/// `constant` at `peak`.
pub fn learning_rate(step: u64, total: u64, warmup: u64, peak: f64, constant: bool) -> f64 {
    if step < warmup {
        peak * (step + 1) as f64 / warmup as f64
    } else if constant {
        peak
    } else {
        peak * (total.saturating_sub(step)) as f64 / (total.saturating_sub(warmup)).max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The GPU's two-kernel update (its CPU twin here) must equal the fused CPU one: same
    /// parameters after a
    /// few steps with weight decay, a parameter without decay and clipping.
    #[test]
    fn two_kernel_update_equals_fused_update() -> Result<()> {
        let init = |seed: u64| -> Result<Vec<Var>> {
            let mut rng = crate::worker::rng::SplitMix64::keyed(seed, &[]);
            [(4usize, 3usize), (1, 3)]
                .iter()
                .map(|&shape| {
                    let n = shape.0 * shape.1;
                    let data: Vec<f32> = (0..n).map(|_| rng.next_f32() - 0.5).collect();
                    Var::from_tensor(&Tensor::from_vec(data, shape, &Device::Cpu)?)
                })
                .collect()
        };
        let (fused_vars, tensor_vars) = (init(7)?, init(7)?);
        let decay = vec![true, false];
        let mut fused = AdamW::with_host_moments(&fused_vars, decay.clone(), 0.01, true)?;
        let mut tensor = AdamW::with_host_moments(&tensor_vars, decay, 0.01, false)?;
        for step in 0..4 {
            let target = Tensor::new(&[1f32, -2.0, 0.5], &Device::Cpu)?;
            let loss = |vars: &[Var]| -> Result<Tensor> {
                let x = vars[0]
                    .as_tensor()
                    .sum(0)?
                    .add(&vars[1].as_tensor().squeeze(0)?)?;
                (x - &target)?.sqr()?.sum_all()?.affine(10.0, 0.0)
            };
            // max_grad_norm 1.0 clips these gradients; the last step runs unclipped.
            let clip = if step == 3 { None } else { Some(1.0) };
            let g1 = fused.step(&fused_vars, &loss(&fused_vars)?.backward()?, 1e-2, clip)?;
            let g2 = tensor.step(&tensor_vars, &loss(&tensor_vars)?.backward()?, 1e-2, clip)?;
            assert!(
                (g1 - g2).abs() < 1e-4 * g1.max(1.0),
                "grad norms {g1} vs {g2}"
            );
        }
        for (a, b) in fused_vars.iter().zip(&tensor_vars) {
            let diff = (a.as_tensor() - b.as_tensor())?
                .abs()?
                .max_all()?
                .to_scalar::<f32>()?;
            assert!(diff < 1e-5, "parameters differ by {diff}");
        }
        for i in 0..2 {
            let ((m1, v1), (m2, v2)) = (fused.moments(i)?, tensor.moments(i)?);
            for (x, y) in m1.iter().zip(&m2).chain(v1.iter().zip(&v2)) {
                assert!((x - y).abs() < 1e-5, "moments differ: {x} vs {y}");
            }
        }
        Ok(())
    }
}

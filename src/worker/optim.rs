//! AdamW as transformers uses it: decoupled weight decay (not on biases and LayerNorm), bias
//! correction, gradient clipping by global norm. On the CPU one fused pass updates each tensor
//! in place (candle-nn's AdamW allocates a dozen tensors per parameter and step).

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, Layout, Result, Tensor, Var};
use rayon::prelude::*;

pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Steps taken so far (for bias correction).
    pub t: u64,
    /// First and second moments, one per parameter, same layout as the parameter.
    pub m: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
    decay: Vec<bool>,
}

impl AdamW {
    pub fn new(vars: &[Var], decay: Vec<bool>, weight_decay: f64) -> AdamW {
        let zeros = || vars.iter().map(|v| vec![0f32; v.elem_count()]).collect();
        AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            t: 0,
            m: zeros(),
            v: zeros(),
            decay,
        }
    }

    /// One update; returns the gradient norm before clipping.
    pub fn step(
        &mut self,
        vars: &[Var],
        grads: &GradStore,
        lr: f64,
        max_grad_norm: f64,
    ) -> Result<f64> {
        let grads: Vec<Option<Tensor>> = vars
            .iter()
            .map(|v| {
                grads
                    .get(v.as_tensor())
                    .map(|g| g.to_device(&candle_core::Device::Cpu)?.contiguous())
                    .transpose()
            })
            .collect::<Result<_>>()?;
        let host: Vec<Option<Vec<f32>>> = grads
            .iter()
            .map(|g| {
                g.as_ref()
                    .map(|g| g.flatten_all()?.to_vec1::<f32>())
                    .transpose()
            })
            .collect::<Result<_>>()?;
        let norm = host
            .iter()
            .flatten()
            .map(|g| g.par_iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>())
            .sum::<f64>()
            .sqrt();
        let clip = if norm > max_grad_norm {
            max_grad_norm / (norm + 1e-6)
        } else {
            1.0
        };
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        for (i, var) in vars.iter().enumerate() {
            let Some(g) = &host[i] else { continue };
            let update = Update {
                grad: g,
                m: std::sync::Mutex::new(&mut self.m[i]),
                v: std::sync::Mutex::new(&mut self.v[i]),
                lr: lr as f32,
                decay: if self.decay[i] {
                    (lr * self.weight_decay) as f32
                } else {
                    0.0
                },
                clip: clip as f32,
                beta1: self.beta1 as f32,
                beta2: self.beta2 as f32,
                eps: self.eps as f32,
                bc1: bc1 as f32,
                bc2_sqrt: bc2.sqrt() as f32,
            };
            if var.device().is_cpu() {
                var.as_tensor().inplace_op1(&update)?;
            } else {
                update.on_tensor(var)?;
            }
        }
        Ok(norm)
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

    /// The same update for parameters off the CPU (CUDA): computed on the host, copied back.
    fn on_tensor(&self, var: &Var) -> Result<()> {
        let mut p = var
            .as_tensor()
            .flatten_all()?
            .to_device(&candle_core::Device::Cpu)?
            .to_vec1::<f32>()?;
        self.apply(&mut p);
        let t = Tensor::from_vec(p, var.shape(), var.device())?;
        var.set(&t)
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

//! AdamW as transformers uses it: decoupled weight decay (not on biases and LayerNorm), bias
//! correction, gradient clipping by global norm. On the CPU one fused pass updates each tensor
//! in place (candle-nn's AdamW allocates a dozen tensors per parameter and step); on a GPU two
//! kernel launches update every parameter (src/worker/cuda/kernels.cu), and the gradient norm is
//! summed on the device, so a step reads one number back.

use candle_core::{CpuStorage, DType, Layout, Result, Storage, Tensor, Var};
use rayon::prelude::*;

use crate::worker::model::ops::simd::vectorised;
use crate::worker::model::{Grad, Grads};
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
        let moments = if vars.iter().all(|v| v.device().is_cpu()) {
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
        grads: &Grads,
        lr: f64,
        max_grad_norm: Option<f64>,
    ) -> Result<GradNorm> {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        let grads: Vec<Option<&Grad>> = (0..vars.len()).map(|i| grads.get(i)).collect();
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
                let tensors: Vec<Option<&Tensor>> = grads
                    .iter()
                    .map(|g| {
                        g.map(|g| match g {
                            Grad::Dense(t) => t,
                            Grad::Rows { rows, .. } => rows,
                        })
                    })
                    .collect();
                let guards: Vec<Option<_>> = tensors
                    .iter()
                    .map(|t| t.map(Tensor::storage_and_layout))
                    .collect();
                let host: Vec<Option<HostGrad>> = guards
                    .iter()
                    .zip(tensors.iter().zip(&grads))
                    .map(|(guard, (t, g))| match (guard, t, g) {
                        (Some((storage, layout)), Some(t), Some(g)) => {
                            let data = host_data(storage, layout, t)?;
                            Ok(Some(HostGrad::new(g, data)))
                        }
                        _ => Ok(None),
                    })
                    .collect::<Result<_>>()?;
                let norm = host
                    .iter()
                    .flatten()
                    .map(|g| {
                        g.data()
                            .par_iter()
                            .map(|x| (*x as f64) * (*x as f64))
                            .sum::<f64>()
                    })
                    .sum::<f64>()
                    .sqrt();
                let clip = clip_factor(norm, max_grad_norm);
                for (i, ((var, m), v)) in vars.iter().zip(m).zip(v).enumerate() {
                    let Some(g) = &host[i] else { continue };
                    let update = Update {
                        grad: g,
                        m: std::sync::Mutex::new(m),
                        v: std::sync::Mutex::new(v),
                        k: Constants {
                            clip: clip as f32,
                            beta1: self.beta1 as f32,
                            beta2: self.beta2 as f32,
                            bc2_sqrt: bc2.sqrt() as f32,
                            eps: self.eps as f32,
                            decay: decay(i) as f32,
                            step: lr as f32 / bc1 as f32,
                        },
                    };
                    var.as_tensor().inplace_op1(&update)?;
                }
                Ok(GradNorm::Known(norm))
            }
            Moments::Device { mv } => device_step(
                vars,
                &grads
                    .iter()
                    .map(|g| g.map(Grad::to_dense).transpose())
                    .collect::<Result<Vec<_>>>()?,
                mv,
                &decay,
                max_grad_norm,
                &DeviceStep {
                    beta1: self.beta1,
                    beta2: self.beta2,
                    eps: self.eps,
                    lr,
                    bc1,
                    bc2,
                },
            ),
        }
    }
}

/// A step's gradient norm. On a GPU it stays there (as the sum of squares) until it is read:
/// reading it would make the host wait for the step to finish.
pub enum GradNorm {
    Known(f64),
    SumOfSquares(Tensor),
}

impl GradNorm {
    pub fn value(&self) -> Result<f64> {
        match self {
            GradNorm::Known(norm) => Ok(*norm),
            GradNorm::SumOfSquares(t) => {
                Ok(f64::from(t.flatten_all()?.to_vec1::<f32>()?[0]).sqrt())
            }
        }
    }
}

/// One step's constants for the GPU's update.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
struct DeviceStep {
    beta1: f64,
    beta2: f64,
    eps: f64,
    lr: f64,
    bc1: f64,
    bc2: f64,
}

/// The GPU's update: every parameter in two kernel launches (src/worker/cuda/mod.rs).
#[cfg(feature = "cuda")]
fn device_step(
    vars: &[Var],
    grads: &[Option<Tensor>],
    moments: &[Tensor],
    decay: &dyn Fn(usize) -> f64,
    max_grad_norm: Option<f64>,
    k: &DeviceStep,
) -> Result<GradNorm> {
    use crate::worker::cuda::{AdamParam, AdamStep, adamw};
    let params: Vec<AdamParam> = vars
        .iter()
        .enumerate()
        .filter_map(|(i, var)| {
            grads[i].as_ref().map(|grad| AdamParam {
                param: var.as_tensor(),
                grad,
                moments: &moments[i],
                decay: decay(i) as f32,
            })
        })
        .collect();
    let step = AdamStep {
        beta1: k.beta1 as f32,
        beta2: k.beta2 as f32,
        step: (k.lr / k.bc1) as f32,
        bc2_sqrt: k.bc2.sqrt() as f32,
        eps: k.eps as f32,
    };
    let sum_squares = adamw(&params, max_grad_norm.map(|m| m as f32), &step)?;
    Ok(GradNorm::SumOfSquares(sum_squares))
}

#[cfg(not(feature = "cuda"))]
fn device_step(
    _: &[Var],
    _: &[Option<Tensor>],
    _: &[Tensor],
    _: &dyn Fn(usize) -> f64,
    _: Option<f64>,
    _: &DeviceStep,
) -> Result<GradNorm> {
    candle_core::bail!("this yenjob was built without the `cuda` feature")
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

/// A gradient as the CPU update reads it.
enum HostGrad<'a> {
    Dense(Cow<'a, [f32]>),
    /// A table's used rows ([`Grad::Rows`]): `slots[r]` is row r's place in `rows`, or
    /// [`HostGrad::UNUSED`].
    Rows {
        slots: Vec<u32>,
        rows: Cow<'a, [f32]>,
        width: usize,
    },
}

impl<'a> HostGrad<'a> {
    const UNUSED: u32 = u32::MAX;

    fn new(grad: &Grad, data: Cow<'a, [f32]>) -> HostGrad<'a> {
        match grad {
            Grad::Dense(_) => HostGrad::Dense(data),
            Grad::Rows { ids, shape, .. } => {
                let mut slots = vec![Self::UNUSED; shape.0];
                // Every id indexed the table in the forward pass, so each has a slot.
                for (k, &id) in ids.iter().enumerate() {
                    if let Some(slot) = slots.get_mut(id as usize) {
                        *slot = k as u32;
                    }
                }
                HostGrad::Rows {
                    slots,
                    rows: data,
                    width: shape.1,
                }
            }
        }
    }

    /// Every value the gradient stores (the others are zeros).
    fn data(&self) -> &[f32] {
        match self {
            HostGrad::Dense(data) | HostGrad::Rows { rows: data, .. } => data,
        }
    }
}

/// A CPU tensor's f32 data, borrowed from its storage when contiguous.
fn host_data<'a>(storage: &'a Storage, layout: &Layout, t: &Tensor) -> Result<Cow<'a, [f32]>> {
    match (storage, layout.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(data)), Some((a, b))) => Ok(Cow::Borrowed(&data[a..b])),
        _ => Ok(Cow::Owned(t.flatten_all()?.to_vec1::<f32>()?)),
    }
}

struct Update<'a> {
    grad: &'a HostGrad<'a>,
    m: std::sync::Mutex<&'a mut Vec<f32>>,
    v: std::sync::Mutex<&'a mut Vec<f32>>,
    k: Constants,
}

/// One parameter's constants for one step of the CPU update.
#[derive(Clone, Copy)]
struct Constants {
    /// The factor that clips the gradient (1 for none).
    clip: f32,
    beta1: f32,
    beta2: f32,
    /// The square root of the second moment's bias correction.
    bc2_sqrt: f32,
    eps: f32,
    /// The learning rate times the weight decay (0 for none).
    decay: f32,
    /// The learning rate over the first moment's bias correction.
    step: f32,
}

impl Update<'_> {
    fn apply(&self, p: &mut [f32]) {
        let mut m = self.m.lock().unwrap_or_else(|e| e.into_inner());
        let mut v = self.v.lock().unwrap_or_else(|e| e.into_inner());
        const CHUNK: usize = 16 * 1024;
        match self.grad {
            HostGrad::Dense(g) => p
                .par_chunks_mut(CHUNK)
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .zip(g.par_chunks(CHUNK))
                .for_each(|(((p, m), v), g)| update_elements(self.k, p, m, v, g)),
            HostGrad::Rows { slots, rows, width } => {
                // Row by row: an unused row's gradient is zero, so its update is the dense one.
                let w = *width;
                let zeros = vec![0f32; w];
                p.par_chunks_mut(w)
                    .zip(m.par_chunks_mut(w))
                    .zip(v.par_chunks_mut(w))
                    .zip(slots.par_iter())
                    .with_min_len(CHUNK / w.max(1))
                    .for_each(|(((p, m), v), &slot)| {
                        let g = match slot {
                            HostGrad::UNUSED => &zeros,
                            s => &rows[s as usize * w..][..w],
                        };
                        update_elements(self.k, p, m, v, g)
                    });
            }
        }
    }
}

vectorised! {
    /// The update of a run of elements and their moments.
    fn update_elements(k: Constants, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        let n = p.len().min(m.len()).min(v.len()).min(g.len());
        let (p, m, v, g) = (&mut p[..n], &mut m[..n], &mut v[..n], &g[..n]);
        for i in 0..n {
            let g = g[i] * k.clip;
            m[i] = k.beta1 * m[i] + (1.0 - k.beta1) * g;
            v[i] = k.beta2 * v[i] + (1.0 - k.beta2) * g * g;
            let denom = v[i].sqrt() / k.bc2_sqrt + k.eps;
            p[i] -= k.decay * p[i] + k.step * m[i] / denom;
        }
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

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::AdamW;
    use crate::worker::model::{Grad, Grads, ParamSet};

    /// The update gives the same bits at every vector level.
    #[test]
    fn the_same_at_every_vector_level() {
        let k = super::Constants {
            clip: 0.5,
            beta1: 0.9,
            beta2: 0.999,
            bc2_sqrt: 0.03,
            eps: 1e-8,
            decay: 1e-4,
            step: 2e-3,
        };
        let g: Vec<f32> = (0..333).map(|i| (i as f32 * 0.3).sin()).collect();
        crate::worker::model::ops::simd::assert_same_at_every_level(|| {
            let mut p: Vec<f32> = (0..333).map(|i| (i as f32 * 0.1).cos()).collect();
            let (mut m, mut v) = (vec![0.01f32; 333], vec![0.02f32; 333]);
            super::update_elements(k, &mut p, &mut m, &mut v, &g);
            (p, m, v)
        });
    }

    /// A table's gradient kept as its used rows updates the table, and the moments of every
    /// row, unused ones included, exactly as the same gradient stored densely does.
    #[test]
    fn used_rows_update_like_the_dense_gradient() {
        let (rows, width) = (7, 5);
        let start: Vec<f32> = (0..rows * width).map(|i| (i as f32 * 0.37).sin()).collect();
        let table = || {
            let t = Tensor::from_vec(start.clone(), (rows, width), &Device::Cpu).unwrap();
            ParamSet {
                names: vec!["bert.embeddings.word_embeddings.weight".into()],
                vars: vec![Var::from_tensor(&t).unwrap()],
            }
        };
        let used = Tensor::from_vec(
            (0..2 * width).map(|i| i as f32 * 0.1 - 0.4).collect(),
            (2, width),
            &Device::Cpu,
        )
        .unwrap();
        let sparse = Grad::Rows {
            ids: vec![1, 4],
            rows: used,
            shape: (rows, width),
        };
        let dense = Grad::Dense(sparse.to_dense().unwrap());
        let run = |grad: &Grad| {
            let params = table();
            let param = params
                .source(true)
                .pp("bert.embeddings.word_embeddings")
                .get("weight")
                .unwrap();
            let mut opt = AdamW::new(&params.vars, vec![true], 0.01).unwrap();
            let mut norms = Vec::new();
            for _ in 0..3 {
                let mut grads = Grads::with_len(1);
                grads.set_rows(&param, grad.clone());
                let norm = opt.step(&params.vars, &grads, 1e-2, Some(0.5)).unwrap();
                norms.push(norm.value().unwrap());
            }
            let values = params.vars[0]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            (values, opt.moments(0).unwrap(), norms)
        };
        assert_eq!(run(&sparse), run(&dense));
    }
}

//! Fused operations for what dominates BERT's small-op time: LayerNorm with its affine part,
//! the attention's scale + padding mask + softmax + dropout, bias + activation, dropout. Each is
//! one pass forward and one pass backward where candle's elementary ops take three to nine
//! kernels (each a launch and an allocation) each way; on a GPU those launches, not the
//! arithmetic, are the cost. Each does the unfused maths in the same order, so CPU results equal
//! the unfused ones. On the CPU rows run in parallel with rayon; with the `cuda` feature the
//! same maths runs as the CUDA kernels of src/worker/cuda/kernels.cu.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::config::HiddenAct;
use crate::worker::rng::SplitMix64;

/// A contiguous f32 tensor's data and the size of its last dimension.
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

/// A row's mean and 1/sqrt(variance + eps).
fn row_stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

// What the layers call. Forward functions are differentiable by candle's autograd too (each op
// has its backward), which the tests use as the oracle of the hand-written backward pass.

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
    Ok((both.get(0)?, both.get(1)?.sum(0)?, dy.sum(0)?))
}

/// `x * mask`, or `x` when there is no mask.
pub fn dropout(x: &Tensor, mask: Option<DropMask>) -> Result<Tensor> {
    match mask {
        None => Ok(x.clone()),
        Some(mask) => x.contiguous()?.apply_op1(Dropout(mask)),
    }
}

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
    let grad = AttentionProbsGrad {
        scale,
        drop,
        dy: dy.contiguous()?,
    };
    scores.contiguous()?.apply_op2_no_bwd(mask, &grad)
}

/// `act(x + bias)`.
pub fn bias_act(x: &Tensor, bias: &Tensor, act: HiddenAct) -> Result<Tensor> {
    x.contiguous()?.apply_op2(bias, BiasAct(act))
}

/// The gradients of `x` and the bias, from the activation's gradient `dy`.
pub fn bias_act_backward(
    x: &Tensor,
    bias: &Tensor,
    dy: &Tensor,
    act: HiddenAct,
) -> Result<(Tensor, Tensor)> {
    let grad = BiasActGrad {
        act,
        dy: dy.contiguous()?,
    };
    let dz = x.contiguous()?.apply_op2_no_bwd(bias, &grad)?;
    let dbias = dz.sum(0)?;
    Ok((dz, dbias))
}

/// Rows to hand rayon at once: short rows (attention has one per key) are grouped.
fn row_group(width: usize) -> usize {
    width * (256 / width).max(1)
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
        y.par_chunks_mut(w).zip(x.par_chunks(w)).for_each(|(y, x)| {
            let (mean, inv) = row_stats(x, self.eps);
            for (((o, v), g), b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
                *o = (v - mean) * inv * g + b;
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
            .for_each(|((dx, dgx), (x, dy))| {
                let (mean, inv) = row_stats(x, self.eps);
                let n = w as f32;
                let (mut sum_g, mut sum_gx) = (0.0, 0.0);
                for ((v, d), g) in x.iter().zip(dy).zip(gamma) {
                    let g = d * g;
                    sum_g += g;
                    sum_gx += g * (v - mean) * inv;
                }
                let (mean_g, mean_gx) = (sum_g / n, sum_gx / n);
                for i in 0..w {
                    let xhat = (x[i] - mean) * inv;
                    dx[i] = (dy[i] * gamma[i] - mean_g - xhat * mean_gx) * inv;
                    dgx[i] = dy[i] * xhat;
                }
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
        crate::worker::cuda::layer_norm_grad((s1, l1), (s2, l2), (s3, l3), self.eps)
    }
}

/// A dropout mask: element i is dropped (0) with probability `p` and kept (times 1/(1-p))
/// otherwise, by the (i+1)-th draw of the counter-based stream whose state is `state`
/// (src/worker/rng.rs). Each element's draw depends on its index alone, so elements run in
/// parallel and the GPU draws the CPU's mask.
#[derive(Debug, Clone, Copy)]
pub struct DropMask {
    pub state: u64,
    pub p: f32,
}

impl DropMask {
    pub fn keep_scale(&self) -> f32 {
        1.0 / (1.0 - self.p)
    }

    /// The multipliers of elements `from..from + out.len()`.
    fn fill(&self, from: usize, out: &mut [f32]) {
        let mut rng = SplitMix64::at(self.state, from as u64);
        let scale = self.keep_scale();
        for o in out {
            *o = if rng.next_f32() < self.p { 0.0 } else { scale };
        }
    }
}

/// Inverted dropout, `x * mask`; its backward pass is the same op on the gradient.
#[derive(Debug, Clone, Copy)]
pub struct Dropout(pub DropMask);

impl CustomOp1 for Dropout {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, _) = rows(s, l, self.name())?;
        let mut y = vec![0f32; x.len()];
        const CHUNK: usize = 16 * 1024;
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .enumerate()
            .for_each(|(c, (y, x))| {
                self.0.fill(c * CHUNK, y);
                for (o, v) in y.iter_mut().zip(x) {
                    *o *= v;
                }
            });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        crate::worker::cuda::dropout(s, l, self.0)
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(dy.contiguous()?.apply_op1_no_bwd(self)?))
    }
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
        let mut max = f32::NEG_INFINITY;
        for ((o, v), b) in y.iter_mut().zip(x).zip(m) {
            *o = v * scale + b;
            max = max.max(*o);
        }
        let mut sum = 0.0;
        for o in y.iter_mut() {
            *o = (*o - max).exp();
            sum += *o;
        }
        let inv = 1.0 / sum;
        y.iter_mut().for_each(|o| *o *= inv);
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

/// With y the softmax and g = dy * mask: d scores = y * (g - sum(g * y)) * scale.
struct AttentionProbsGrad {
    scale: f32,
    drop: Option<DropMask>,
    dy: Tensor,
}

impl CustomOp2 for AttentionProbsGrad {
    fn name(&self) -> &'static str {
        "attention-probs-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = AttentionRows::new(s1, l1, s2, l2)?;
        let (dy_storage, dy_layout) = self.dy.storage_and_layout();
        let candle_core::Storage::Cpu(dy_storage) = &*dy_storage else {
            candle_core::bail!("attention-probs-grad: the gradient is not on the CPU")
        };
        let (dy, _) = rows(dy_storage, dy_layout, self.name())?;
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
                let dot: f32 = y.iter().zip(&g).map(|(a, b)| a * b).sum();
                for ((o, a), g) in dx.iter_mut().zip(&y).zip(&g) {
                    *o = a * (g - dot) * self.scale;
                }
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
    ) -> Result<(CudaStorage, Shape)> {
        let (dy_storage, dy_layout) = self.dy.storage_and_layout();
        let candle_core::Storage::Cuda(dy_storage) = &*dy_storage else {
            candle_core::bail!("attention-probs-grad: the gradient is not on the GPU")
        };
        crate::worker::cuda::attention_probs(
            (s1, l1),
            (s2, l2),
            Some((dy_storage, dy_layout)),
            self.scale,
            self.drop,
        )
    }
}

/// `act(x + bias)`, x (rows, width) and bias (width); the backward pass gives x and bias their
/// gradients from one kernel and a column sum.
pub struct BiasAct(pub HiddenAct);

/// The activation and its derivative, as candle computes them (same constants, same order).
fn activate(act: HiddenAct, z: f32) -> f32 {
    match act {
        HiddenAct::Gelu => {
            (candle_core::cpu::erf::erf_f32(z * std::f32::consts::FRAC_1_SQRT_2) + 1.) * 0.5 * z
        }
        HiddenAct::GeluTanh => {
            0.5 * z * (1.0 + f32::tanh(0.797_884_6 * z * (1.0 + 0.044715 * z * z)))
        }
        HiddenAct::Relu => z.max(0.0),
    }
}

fn derivative(act: HiddenAct, z: f32) -> f32 {
    match act {
        HiddenAct::Gelu => {
            let scaled_exp = (-(z * z) * 0.5).exp() * 0.398942 * z;
            let erf = candle_core::cpu::erf::erf_f32(z * std::f32::consts::FRAC_1_SQRT_2) * 0.5;
            scaled_exp + 0.5 + erf
        }
        HiddenAct::GeluTanh => {
            let cube = z * z * z;
            let tanh = (0.0356774 * cube + 0.797885 * z).tanh();
            0.5 * tanh + (0.0535161 * cube + 0.398942 * z) * (1.0 - tanh * tanh) + 0.5
        }
        HiddenAct::Relu => {
            if z >= 0.0 {
                1.0
            } else {
                0.0
            }
        }
    }
}

/// `f(z)` for each z = x + bias, into a new tensor of x's shape.
fn map_biased(
    op: &str,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    f: impl Fn(usize, f32) -> f32 + Sync,
) -> Result<(CpuStorage, Shape)> {
    let (x, w) = rows(s1, l1, op)?;
    let (bias, _) = rows(s2, l2, op)?;
    if bias.len() != w {
        candle_core::bail!("{op}: the bias must have the rows' width {w}")
    }
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(w)
        .zip(x.par_chunks(w))
        .enumerate()
        .for_each(|(r, (y, x))| {
            for (i, ((o, v), b)) in y.iter_mut().zip(x).zip(bias).enumerate() {
                *o = f(r * w + i, v + b);
            }
        });
    Ok((CpuStorage::F32(y), l1.shape().clone()))
}

impl CustomOp2 for BiasAct {
    fn name(&self) -> &'static str {
        "bias-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        map_biased(self.name(), (s1, l1), (s2, l2), |_, z| activate(self.0, z))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        crate::worker::cuda::bias_act((s1, l1), (s2, l2), None, self.0)
    }

    fn bwd(
        &self,
        x: &Tensor,
        bias: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dz, dbias) = bias_act_backward(x, bias, dy, self.0)?;
        Ok((Some(dz), Some(dbias)))
    }
}

/// dz = dy * act'(x + bias).
struct BiasActGrad {
    act: HiddenAct,
    dy: Tensor,
}

impl CustomOp2 for BiasActGrad {
    fn name(&self) -> &'static str {
        "bias-act-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (dy_storage, dy_layout) = self.dy.storage_and_layout();
        let candle_core::Storage::Cpu(dy_storage) = &*dy_storage else {
            candle_core::bail!("bias-act-grad: the gradient is not on the CPU")
        };
        let (dy, _) = rows(dy_storage, dy_layout, self.name())?;
        if dy.len() != l1.shape().elem_count() {
            candle_core::bail!("bias-act-grad: shapes differ")
        }
        map_biased(self.name(), (s1, l1), (s2, l2), |i, z| {
            dy[i] * derivative(self.act, z)
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
        let (dy_storage, dy_layout) = self.dy.storage_and_layout();
        let candle_core::Storage::Cuda(dy_storage) = &*dy_storage else {
            candle_core::bail!("bias-act-grad: the gradient is not on the GPU")
        };
        crate::worker::cuda::bias_act((s1, l1), (s2, l2), Some((dy_storage, dy_layout)), self.act)
    }
}

/// Softmax over the last dimension (class probabilities).
pub struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, w) = rows(s, l, self.name())?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(w).zip(x.par_chunks(w)).for_each(|(y, x)| {
            let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for (o, v) in y.iter_mut().zip(x) {
                *o = (v - max).exp();
                sum += *o;
            }
            let inv = 1.0 / sum;
            y.iter_mut().for_each(|o| *o *= inv);
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        crate::worker::cuda::softmax(s, l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Device, Var};

    /// The parallel kernel draws exactly the sequential stream: element i is dropped by the
    /// stream's i-th draw, kept ones are scaled, and the gradient goes through the same mask.
    #[test]
    fn dropout_is_the_sequential_stream() -> Result<()> {
        let n = 70_001; // several rayon chunks and a ragged end
        let op = Dropout(DropMask { state: 99, p: 0.25 });
        let x = Var::from_tensor(&Tensor::ones(n, candle_core::DType::F32, &Device::Cpu)?)?;
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

    fn random(shape: &[usize], seed: u64) -> Result<Tensor> {
        let mut rng = SplitMix64::keyed(seed, &[]);
        let n = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| rng.next_f32() * 4.0 - 2.0).collect();
        Tensor::from_vec(data, shape, &Device::Cpu)
    }

    /// Values and the gradients of every input, as (name, tensor) pairs, for `f` over `inputs`.
    fn run(inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>) -> Result<Vec<Vec<f32>>> {
        let vars: Vec<Var> = inputs.iter().map(Var::from_tensor).collect::<Result<_>>()?;
        let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let y = f(&tensors)?;
        let weights = random(y.dims(), 77)?;
        let grads = (&y * weights)?.sum_all()?.backward()?;
        let mut out = vec![y.flatten_all()?.to_vec1::<f32>()?];
        for t in &tensors {
            out.push(match grads.get(t) {
                Some(g) => g.flatten_all()?.to_vec1::<f32>()?,
                None => Vec::new(),
            });
        }
        Ok(out)
    }

    fn assert_close(fused: &[Vec<f32>], plain: &[Vec<f32>], tol: f32) {
        for (k, (a, b)) in fused.iter().zip(plain).enumerate() {
            assert_eq!(a.len(), b.len(), "output {k}: lengths");
            let diff = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(diff <= tol, "output {k} differs by {diff}");
        }
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

    /// Bias + activation and both gradients equal candle's ops, for each activation.
    #[test]
    fn bias_act_matches_elementary_ops() -> Result<()> {
        let inputs = [random(&[9, 16], 6)?, random(&[16], 7)?];
        for act in [HiddenAct::Gelu, HiddenAct::GeluTanh, HiddenAct::Relu] {
            let fused = run(&inputs, |t| t[0].apply_op2(&t[1], BiasAct(act)))?;
            let plain = run(&inputs, |t| {
                let z = t[0].broadcast_add(&t[1])?;
                match act {
                    HiddenAct::Gelu => z.gelu_erf(),
                    HiddenAct::GeluTanh => z.gelu(),
                    HiddenAct::Relu => z.relu(),
                }
            })?;
            assert_close(&fused, &plain, 1e-5);
        }
        Ok(())
    }
}

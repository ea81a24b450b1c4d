//! Fused operations for what dominates BERT's small-op time: LayerNorm with its affine part,
//! the attention's scale + padding mask + softmax + dropout, bias + activation, dropout,
//! bias + dropout + residual (with the LayerNorm after it), heads split from rows (with a bias)
//! and merged back, column sums. Each is one pass forward and one pass backward where candle's
//! elementary ops take two to nine kernels (each a launch and an allocation, some an upload of
//! shapes and strides) each way; on a GPU those launches, not the arithmetic, are the cost.
//! Each does the unfused maths in the same order, so CPU results equal the unfused ones. On the
//! CPU rows run in parallel with rayon; with the `cuda` feature the same maths runs as the CUDA
//! kernels of src/worker/cuda/kernels.cu.
//!
//! The layers call the functions below. Forward functions are differentiable by candle's
//! autograd too (each op has its backward, or falls back to ops that have one when autograd
//! follows it), which the tests use as the oracle of the hand-written backward pass.

pub(crate) mod activation;
pub(crate) mod attention;
pub(crate) mod column_sum;
pub(crate) mod dropout;
pub(crate) mod heads;
pub(crate) mod layer_norm;
mod matmul;
pub(crate) mod residual;
pub(crate) mod simd;
mod softmax;
#[cfg(test)]
mod test_util;

use candle_core::{CpuStorage, Layout, Result};

pub use activation::{bias_act, bias_act_backward};
pub use attention::{attention_probs, attention_probs_backward};
pub use column_sum::{column_sum, column_sums};
pub use dropout::{DropMask, dropout};
pub use heads::{merge_heads, split_heads};
pub use layer_norm::{layer_norm, layer_norm_backward, residual_norm_backward};
pub use matmul::batched_matmul;
pub use residual::residual_layer_norm;
pub use softmax::Softmax;

/// A contiguous f32 tensor's data and the size of its last dimension.
pub(crate) fn rows<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> Result<(&'a [f32], usize)> {
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
#[inline(always)]
pub(crate) fn row_stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = simd::sum(x) / n;
    let var = simd::sum_squares_about(x, mean) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// Rows to hand rayon at once: short rows (attention has one per key) are grouped.
pub(crate) fn row_group(width: usize) -> usize {
    width * (256 / width).max(1)
}

/// e^x for f32, branch-free so that loops over it vectorise (libm's `expf` is a call per
/// element): Cephes' `expf`, within 2 ulp. Below -87.3 (e.g. a padding mask) it is 0.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer, branch-free.
    const ROUND: f32 = 12_582_912.0;
    let clamped = x.clamp(-87.3, 88.3);
    let n = (clamped * LOG2E + ROUND) - ROUND;
    let r = clamped - n * 0.693_359_4 - n * -2.121_944_4e-4;
    #[allow(clippy::excessive_precision)] // Cephes' coefficients, rounded by the compiler
    let p = [
        1.9875691500e-4,
        1.3981999507e-3,
        8.3334519073e-3,
        4.1665795894e-2,
        1.6666665459e-1,
        5.0000001201e-1,
    ]
    .iter()
    .fold(0.0f32, |p, c| p * r + c);
    let y = p * r * r + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x < -87.3 { 0.0 } else { y * scale }
}

#[cfg(test)]
mod tests {
    /// The branch-free exp is f32's exp to within 2 ulp (relative 2.4e-7) over the range the
    /// worker uses, and 0 far below it.
    #[test]
    fn exp_is_expf_to_2_ulp() {
        let worst = (-870_000..=880_000)
            .map(|i| i as f32 * 1e-4)
            .map(|x| ((super::exp(x) as f64 - (x as f64).exp()) / (x as f64).exp()).abs())
            .fold(0f64, f64::max);
        assert!(worst <= 2.4e-7, "relative error {worst}");
        assert_eq!(super::exp(-10_000.0), 0.0);
    }
}

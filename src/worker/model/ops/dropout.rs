//! Inverted dropout with masks drawn from the counter-based stream.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::CustomOp1;
use candle_core::{CpuStorage, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::rows;
use super::simd::vectorised;
use crate::worker::rng::SplitMix64;

/// `x * mask`, or `x` when there is no mask.
pub fn dropout(x: &Tensor, mask: Option<DropMask>) -> Result<Tensor> {
    match mask {
        None => Ok(x.clone()),
        Some(mask) => x.contiguous()?.apply_op1(Dropout(mask)),
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
    pub(super) fn fill(&self, from: usize, out: &mut [f32]) {
        fill_mask(self.state, from as u64, self.p, self.keep_scale(), out)
    }
}

vectorised! {
    fn fill_mask(state: u64, from: u64, p: f32, scale: f32, out: &mut [f32]) {
        for (i, o) in out.iter_mut().enumerate() {
            let u = SplitMix64::f32_at(state, from + i as u64);
            *o = if u < p { 0.0 } else { scale };
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    /// The mask is the same at every vector level.
    #[test]
    fn the_same_at_every_vector_level() {
        crate::worker::model::ops::simd::assert_same_at_every_level(|| {
            let mut out = vec![0f32; 1001];
            fill_mask(12345, 17, 0.1, 1.0 / 0.9, &mut out);
            out
        });
    }

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
}

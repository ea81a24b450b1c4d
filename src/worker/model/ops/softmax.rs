//! Softmax over the last dimension: the class probabilities.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::CustomOp1;
use candle_core::{CpuStorage, Layout, Result, Shape};
use rayon::prelude::*;

use super::rows;

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

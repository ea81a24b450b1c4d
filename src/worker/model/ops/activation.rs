//! Bias + activation (the feed-forward block's GELU), one pass each way.

#[cfg(feature = "cuda")]
use candle_core::CudaStorage;
use candle_core::{CpuStorage, Layout, Result, Shape, Tensor};
use candle_core::{CustomOp2, CustomOp3};
use rayon::prelude::*;

use super::simd::vectorised;
use super::{column_sum, exp, rows};
use crate::worker::model::config::HiddenAct;

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
    let dz = x
        .contiguous()?
        .apply_op3_no_bwd(bias, &dy.contiguous()?, &BiasActGrad(act))?;
    let dbias = column_sum(&dz)?;
    Ok((dz, dbias))
}

/// `act(x + bias)`, x (rows, width) and bias (width); the backward pass gives x and bias their
/// gradients from one kernel and a column sum.
pub struct BiasAct(pub HiddenAct);

/// erf for f32 as a rational function on [-4, 4] (outside it erf is ±1 in f32): Eigen's and
/// XLA's approximation, within 5e-7 (a few f32 ulps) of the true value. No branches, so loops
/// over it vectorise; libm's `erff`, which candle calls, was an eighth of a CPU training step.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    #[allow(clippy::excessive_precision)] // the published coefficients, rounded by the compiler
    let (alpha, beta): ([f32; 7], [f32; 5]) = (
        [
            -2.72614225801306e-10,
            2.77068142495902e-08,
            -2.10102402082508e-06,
            -5.69250639462346e-05,
            -7.34990630326855e-04,
            -2.95459980854025e-03,
            -1.60960333262415e-02,
        ],
        [
            -1.45660718464996e-05,
            -2.13374055278905e-04,
            -1.68282697438203e-03,
            -7.37332916720468e-03,
            -1.42647390514189e-02,
        ],
    );
    let p = alpha[1..].iter().fold(alpha[0], |p, a| x2 * p + a);
    let q = beta[1..].iter().fold(beta[0], |q, b| x2 * q + b);
    x * p / q
}

/// The activation and its derivative, with candle's formulas and constants.
#[inline(always)]
fn activate(act: HiddenAct, z: f32) -> f32 {
    match act {
        HiddenAct::Gelu => (erf(z * std::f32::consts::FRAC_1_SQRT_2) + 1.) * 0.5 * z,
        HiddenAct::GeluTanh => {
            0.5 * z * (1.0 + f32::tanh(0.797_884_6 * z * (1.0 + 0.044715 * z * z)))
        }
        HiddenAct::Relu => z.max(0.0),
    }
}

#[inline(always)]
fn derivative(act: HiddenAct, z: f32) -> f32 {
    match act {
        HiddenAct::Gelu => {
            let scaled_exp = exp(-(z * z) * 0.5) * 0.398942 * z;
            let erf = erf(z * std::f32::consts::FRAC_1_SQRT_2) * 0.5;
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

// One loop per activation, so that each is a straight loop the compiler vectorises.
vectorised! {
    /// `y = act(x + bias)` for one row.
    fn activate_row(act: HiddenAct, x: &[f32], bias: &[f32], y: &mut [f32]) {
        match act {
            HiddenAct::Gelu => {
                for ((o, v), b) in y.iter_mut().zip(x).zip(bias) {
                    *o = activate(HiddenAct::Gelu, v + b);
                }
            }
            HiddenAct::GeluTanh => {
                for ((o, v), b) in y.iter_mut().zip(x).zip(bias) {
                    *o = activate(HiddenAct::GeluTanh, v + b);
                }
            }
            HiddenAct::Relu => {
                for ((o, v), b) in y.iter_mut().zip(x).zip(bias) {
                    *o = activate(HiddenAct::Relu, v + b);
                }
            }
        }
    }
}

vectorised! {
    /// `dz = dy * act'(x + bias)` for one row.
    fn derivative_row(act: HiddenAct, x: &[f32], bias: &[f32], dy: &[f32], dz: &mut [f32]) {
        match act {
            HiddenAct::Gelu => {
                for (((o, v), b), d) in dz.iter_mut().zip(x).zip(bias).zip(dy) {
                    *o = d * derivative(HiddenAct::Gelu, v + b);
                }
            }
            HiddenAct::GeluTanh => {
                for (((o, v), b), d) in dz.iter_mut().zip(x).zip(bias).zip(dy) {
                    *o = d * derivative(HiddenAct::GeluTanh, v + b);
                }
            }
            HiddenAct::Relu => {
                for (((o, v), b), d) in dz.iter_mut().zip(x).zip(bias).zip(dy) {
                    *o = d * derivative(HiddenAct::Relu, v + b);
                }
            }
        }
    }
}

/// A new tensor of x's shape, row r written by `f(r, x's row r, bias, out row r)`.
fn map_biased(
    op: &str,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    f: impl Fn(usize, &[f32], &[f32], &mut [f32]) + Sync,
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
        .for_each(|(r, (y, x))| f(r, x, bias, y));
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
        map_biased(self.name(), (s1, l1), (s2, l2), |_, x, bias, y| {
            activate_row(self.0, x, bias, y)
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

/// dz = dy * act'(x + bias). Inputs: x, the bias, dy.
struct BiasActGrad(HiddenAct);

impl CustomOp3 for BiasActGrad {
    fn name(&self) -> &'static str {
        "bias-act-grad"
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
        let (dy, _) = rows(s3, l3, self.name())?;
        if dy.len() != l1.shape().elem_count() {
            candle_core::bail!("bias-act-grad: shapes differ")
        }
        let w = l1.dims().last().copied().unwrap_or(1).max(1);
        map_biased(self.name(), (s1, l1), (s2, l2), |r, x, bias, dz| {
            derivative_row(self.0, x, bias, &dy[r * w..][..w], dz)
        })
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
        crate::worker::cuda::bias_act((s1, l1), (s2, l2), Some((s3, l3)), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::model::ops::test_util::*;
    /// The rational erf stays within a few f32 ulps of the true erf over the whole range.
    #[test]
    fn erf_is_within_a_few_ulps() {
        let worst = (-600_000..=600_000)
            .map(|i| i as f64 * 1e-5)
            .map(|x| (f64::from(erf(x as f32)) - candle_core::cpu::erf::erf_f64(x)).abs())
            .fold(0f64, f64::max);
        assert!(worst <= 5e-7, "differs by {worst}");
    }

    /// The loops give the same bits at every vector level, on a row whose length is not a
    /// multiple of the lanes.
    #[test]
    fn the_same_at_every_vector_level() {
        let x: Vec<f32> = (0..203).map(|i| (i as f32 * 0.173).sin() * 6.0).collect();
        let bias: Vec<f32> = (0..203).map(|i| (i as f32 * 0.07).cos()).collect();
        let dy: Vec<f32> = (0..203).map(|i| (i as f32 * 0.31).sin()).collect();
        for act in [HiddenAct::Gelu, HiddenAct::GeluTanh, HiddenAct::Relu] {
            crate::worker::model::ops::simd::assert_same_at_every_level(|| {
                let (mut y, mut dz) = (vec![0f32; 203], vec![0f32; 203]);
                activate_row(act, &x, &bias, &mut y);
                derivative_row(act, &x, &bias, &dy, &mut dz);
                (y, dz)
            });
        }
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

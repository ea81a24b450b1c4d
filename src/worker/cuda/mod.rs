//! Launches the worker's CUDA kernels (kernels.cu, compiled to PTX by build.rs) on candle's CUDA
//! storage. candle's elementary ops would run each fused step as many small kernels, each with
//! a launch and an allocation: on a GPU that launch overhead, not arithmetic, is the cost.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::WrapErr;
use candle_core::cuda_backend::cudarc::driver::{
    CudaSlice, CudaView, CudaViewMut, LaunchConfig, PushKernelArg,
};
use candle_core::{CudaStorage, Layout, Result, Shape};

const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/yenjob_kernels.ptx"));
const MODULE: &str = "yenjob";

fn view<'a>(s: &'a CudaStorage, l: &Layout, op: &str) -> Result<CudaView<'a, f32>> {
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: expected a contiguous tensor")
    };
    Ok(s.as_cuda_slice::<f32>()?.slice(start..end))
}

fn view_mut<'a>(s: &'a mut CudaStorage, l: &Layout, op: &str) -> Result<CudaViewMut<'a, f32>> {
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: expected a contiguous tensor")
    };
    Ok(s.as_cuda_slice_mut::<f32>()?.slice_mut(start..end))
}

/// Grid-stride launch over `n` elements.
fn elementwise(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(256).clamp(1, 4096) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// One block per row of `width` (the last dimension).
fn per_row(l: &Layout) -> (LaunchConfig, u32) {
    let width = l.dims().last().copied().unwrap_or(1).max(1);
    let rows = (l.shape().elem_count() / width).max(1) as u32;
    let threads = if width <= 128 { 128 } else { 256 };
    let cfg = LaunchConfig {
        grid_dim: (rows, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    };
    (cfg, width as u32)
}

/// A new buffer for a kernel's output, the shape of `l`.
fn output(s: &CudaStorage, l: &Layout) -> Result<CudaSlice<f32>> {
    // SAFETY: every kernel writing an output writes all of its elements.
    unsafe { s.device().alloc::<f32>(l.shape().elem_count()) }
}

/// A row-wise kernel of one input (`yj_normalize`, `yj_softmax`); `eps` when it takes one.
pub fn rows(
    name: &str,
    s: &CudaStorage,
    l: &Layout,
    eps: Option<f32>,
) -> Result<(CudaStorage, Shape)> {
    let x = view(s, l, name)?;
    let out = output(s, l)?;
    let (cfg, width) = per_row(l);
    let func = s.device().get_or_load_custom_func(name, MODULE, PTX)?;
    let mut b = func.builder();
    b.arg(&x);
    b.arg(&out);
    b.arg(&width);
    if let Some(eps) = &eps {
        b.arg(eps);
    }
    // SAFETY: the kernel reads and writes only within the lengths it is given, and the
    // views passed are at least that long.
    unsafe { b.launch(cfg) }.w()?;
    Ok((
        CudaStorage::wrap_cuda_slice(out, s.device().clone()),
        l.shape().clone(),
    ))
}

/// A row-wise backward kernel of two inputs (`yj_normalize_grad`, `yj_softmax_grad`).
pub fn row_pairs(
    name: &str,
    (s1, l1): (&CudaStorage, &Layout),
    (s2, l2): (&CudaStorage, &Layout),
    eps: Option<f32>,
) -> Result<(CudaStorage, Shape)> {
    if l1.shape() != l2.shape() {
        candle_core::bail!("{name}: shapes differ")
    }
    let (a, g) = (view(s1, l1, name)?, view(s2, l2, name)?);
    let out = output(s1, l1)?;
    let (cfg, width) = per_row(l1);
    let func = s1.device().get_or_load_custom_func(name, MODULE, PTX)?;
    let mut b = func.builder();
    b.arg(&a);
    b.arg(&g);
    b.arg(&out);
    b.arg(&width);
    if let Some(eps) = &eps {
        b.arg(eps);
    }
    // SAFETY: the kernel reads and writes only within the lengths it is given, and the
    // views passed are at least that long.
    unsafe { b.launch(cfg) }.w()?;
    Ok((
        CudaStorage::wrap_cuda_slice(out, s1.device().clone()),
        l1.shape().clone(),
    ))
}

/// `x * mask`, the mask drawn from the counter-based stream at `state` (see `yj_dropout`).
pub fn dropout(
    s: &CudaStorage,
    l: &Layout,
    state: u64,
    p: f32,
    scale: f32,
) -> Result<(CudaStorage, Shape)> {
    let x = view(s, l, "dropout")?;
    let out = output(s, l)?;
    let n = l.shape().elem_count() as u64;
    let func = s
        .device()
        .get_or_load_custom_func("yj_dropout", MODULE, PTX)?;
    let mut b = func.builder();
    b.arg(&x);
    b.arg(&out);
    b.arg(&n);
    b.arg(&state);
    b.arg(&p);
    b.arg(&scale);
    // SAFETY: the kernel reads and writes only within the lengths it is given, and the
    // views passed are at least that long.
    unsafe { b.launch(elementwise(n as usize)) }.w()?;
    Ok((
        CudaStorage::wrap_cuda_slice(out, s.device().clone()),
        l.shape().clone(),
    ))
}

/// AdamW's moment update on `mv` = [m | v] from the gradient `g` (each of g's length).
pub fn adam_moments(
    (mv, mvl): (&mut CudaStorage, &Layout),
    (g, gl): (&CudaStorage, &Layout),
    clip: f32,
    beta1: f32,
    beta2: f32,
) -> Result<()> {
    let n = gl.shape().elem_count();
    if mvl.shape().elem_count() != 2 * n {
        candle_core::bail!("adam-moments: moments and gradient sizes differ")
    }
    let device = mv.device().clone();
    let g = view(g, gl, "adam-moments")?;
    let mut mv = view_mut(mv, mvl, "adam-moments")?;
    let n = n as u64;
    let func = &device.get_or_load_custom_func("yj_adam_moments", MODULE, PTX)?;
    let mut b = func.builder();
    b.arg(&mut mv);
    b.arg(&g);
    b.arg(&n);
    b.arg(&clip);
    b.arg(&beta1);
    b.arg(&beta2);
    // SAFETY: the kernel reads and writes only within the lengths it is given, and the
    // views passed are at least that long.
    unsafe { b.launch(elementwise(n as usize)) }.w()?;
    Ok(())
}

/// AdamW's parameter step on `p` from `mv` = [m | v].
pub fn adam_params(
    (p, pl): (&mut CudaStorage, &Layout),
    (mv, mvl): (&CudaStorage, &Layout),
    [step, decay, bc2_sqrt, eps]: [f32; 4],
) -> Result<()> {
    let n = pl.shape().elem_count();
    if mvl.shape().elem_count() != 2 * n {
        candle_core::bail!("adam-params: moments and parameter sizes differ")
    }
    let device = p.device().clone();
    let mv = view(mv, mvl, "adam-params")?;
    let mut p = view_mut(p, pl, "adam-params")?;
    let n = n as u64;
    let func = &device.get_or_load_custom_func("yj_adam_params", MODULE, PTX)?;
    let mut b = func.builder();
    b.arg(&mut p);
    b.arg(&mv);
    b.arg(&n);
    b.arg(&step);
    b.arg(&decay);
    b.arg(&bc2_sqrt);
    b.arg(&eps);
    // SAFETY: the kernel reads and writes only within the lengths it is given, and the
    // views passed are at least that long.
    unsafe { b.launch(elementwise(n as usize)) }.w()?;
    Ok(())
}

/// `acc[0] += sum(g²)`.
pub fn sum_squares(
    (acc, al): (&mut CudaStorage, &Layout),
    (g, gl): (&CudaStorage, &Layout),
) -> Result<()> {
    let device = acc.device().clone();
    let g = view(g, gl, "sum-squares")?;
    let mut acc = view_mut(acc, al, "sum-squares")?;
    let n = gl.shape().elem_count() as u64;
    let func = &device.get_or_load_custom_func("yj_sum_squares", MODULE, PTX)?;
    let mut b = func.builder();
    b.arg(&mut acc);
    b.arg(&g);
    b.arg(&n);
    // SAFETY: the kernel reads and writes only within the lengths it is given, and the
    // views passed are at least that long.
    unsafe { b.launch(elementwise(n as usize)) }.w()?;
    Ok(())
}

/// Each kernel against its CPU twin, on the GPU when there is one (`cargo test --features cuda`
/// on a GPU node; elsewhere these print SKIPPED and pass).
#[cfg(test)]
mod tests {
    use crate::worker::fused::{Dropout, Normalize, Softmax};
    use crate::worker::optim::AdamW;
    use candle_core::{Device, Result, Tensor, Var};

    fn gpu() -> Option<Device> {
        match Device::new_cuda(0) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("SKIPPED: no CUDA device ({e})");
                None
            }
        }
    }

    fn random(shape: (usize, usize), seed: u64) -> Result<Tensor> {
        let mut rng = crate::worker::rng::SplitMix64::keyed(seed, &[]);
        let data: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| rng.next_f32() * 6.0 - 3.0)
            .collect();
        Tensor::from_vec(data, shape, &Device::Cpu)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
        (a - b.to_device(a.device())?)?
            .abs()?
            .max_all()?
            .to_scalar()
    }

    /// `op`'s output and the gradient it passes back, on the CPU and the GPU, must agree.
    fn agrees(
        op: impl Fn(&Tensor) -> Result<Tensor>,
        shape: (usize, usize),
        tol: f32,
    ) -> Result<()> {
        let Some(gpu) = gpu() else { return Ok(()) };
        let x = random(shape, 1)?;
        let weights = random(shape, 2)?;
        let run = |device: &Device| -> Result<(Tensor, Tensor)> {
            let x = Var::from_tensor(&x.to_device(device)?)?;
            let y = op(x.as_tensor())?;
            let loss = (&y * weights.to_device(device)?)?.sum_all()?;
            let grads = loss.backward()?;
            let dx = grads.get(x.as_tensor()).expect("x has a gradient").clone();
            Ok((y.to_device(&Device::Cpu)?, dx.to_device(&Device::Cpu)?))
        };
        let (y_cpu, dx_cpu) = run(&Device::Cpu)?;
        let (y_gpu, dx_gpu) = run(&gpu)?;
        let (dy, ddx) = (max_diff(&y_cpu, &y_gpu)?, max_diff(&dx_cpu, &dx_gpu)?);
        assert!(
            dy <= tol && ddx <= tol,
            "output differs by {dy}, gradient by {ddx}"
        );
        Ok(())
    }

    #[test]
    fn normalize_matches_cpu() -> Result<()> {
        for shape in [(37, 384), (5, 1000), (3, 7)] {
            agrees(|x| x.apply_op1(Normalize { eps: 1e-12 }), shape, 1e-4)?;
        }
        Ok(())
    }

    #[test]
    fn softmax_matches_cpu() -> Result<()> {
        for shape in [(300, 30), (20, 128), (4, 700)] {
            agrees(|x| x.apply_op1(Softmax), shape, 1e-5)?;
        }
        Ok(())
    }

    #[test]
    fn dropout_draws_the_cpu_mask() -> Result<()> {
        // Same mask: outputs and gradients equal exactly.
        agrees(
            |x| {
                x.apply_op1(Dropout {
                    state: 12345,
                    p: 0.1,
                })
            },
            (70_001, 3),
            0.0,
        )
    }

    #[test]
    fn adamw_matches_cpu() -> Result<()> {
        let Some(gpu) = gpu() else { return Ok(()) };
        let run = |device: &Device| -> Result<Vec<f32>> {
            let vars = vec![
                Var::from_tensor(&random((300, 7), 3)?.to_device(device)?)?,
                Var::from_tensor(&random((1, 7), 4)?.to_device(device)?)?,
            ];
            let mut opt = AdamW::new(&vars, vec![true, false], 0.01)?;
            for step in 0..4 {
                let loss =
                    (vars[0].as_tensor().sum(0)? * vars[1].as_tensor().squeeze(0)?)?.sum_all()?;
                let clip = if step == 3 { f64::INFINITY } else { 1.0 };
                opt.step(&vars, &loss.backward()?, 1e-2, clip)?;
            }
            let mut all = vars[0].as_tensor().flatten_all()?.to_vec1::<f32>()?;
            all.extend(vars[1].as_tensor().flatten_all()?.to_vec1::<f32>()?);
            Ok(all)
        };
        let (cpu, gpu) = (run(&Device::Cpu)?, run(&gpu)?);
        let diff = cpu
            .iter()
            .zip(&gpu)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "parameters differ by {diff}");
        Ok(())
    }
}

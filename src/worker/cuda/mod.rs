//! Launches the worker's CUDA kernels (kernels.cu, compiled to PTX by build.rs) on candle's CUDA
//! storage. candle's elementary ops would run each fused step as many small kernels, each with
//! a launch and an allocation: on a GPU that launch overhead, not arithmetic, is the cost.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::WrapErr;
use candle_core::cuda_backend::cudarc::driver::{
    CudaSlice, CudaView, CudaViewMut, LaunchConfig, PushKernelArg,
};
use candle_core::{CudaDevice, CudaStorage, Layout, Result, Shape};

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

/// A new buffer for a kernel's output, `l`'s size.
fn output(device: &CudaDevice, l: &Layout) -> Result<CudaSlice<f32>> {
    // SAFETY: every kernel writing an output writes all of its elements.
    unsafe { device.alloc::<f32>(l.shape().elem_count()) }
}

/// A row-wise kernel (`yj_normalize`, `yj_softmax`, and their backward kernels, which take two
/// inputs of one shape) writing a new tensor of the inputs' shape; `eps` when it takes one.
pub fn rows(
    name: &str,
    inputs: &[(&CudaStorage, &Layout)],
    eps: Option<f32>,
) -> Result<(CudaStorage, Shape)> {
    let &[(first, layout), ..] = inputs else {
        candle_core::bail!("{name}: no input")
    };
    if inputs.iter().any(|(_, l)| l.shape() != layout.shape()) {
        candle_core::bail!("{name}: shapes differ")
    }
    let views = inputs
        .iter()
        .map(|(s, l)| view(s, l, name))
        .collect::<Result<Vec<_>>>()?;
    let device = first.device();
    let out = output(device, layout)?;
    let (cfg, width) = per_row(layout);
    let func = device.get_or_load_custom_func(name, MODULE, PTX)?;
    let mut b = func.builder();
    for v in &views {
        b.arg(v);
    }
    b.arg(&out);
    b.arg(&width);
    if let Some(eps) = &eps {
        b.arg(eps);
    }
    // SAFETY: each block reads and writes one row of `width` within the views and the output,
    // all of the same shape.
    unsafe { b.launch(cfg) }.w()?;
    Ok((
        CudaStorage::wrap_cuda_slice(out, device.clone()),
        layout.shape().clone(),
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
    let out = output(s.device(), l)?;
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
    // SAFETY: the kernel touches the first `n` elements of `x` and of the output, both `n` long.
    unsafe { b.launch(elementwise(n as usize)) }.w()?;
    Ok((
        CudaStorage::wrap_cuda_slice(out, s.device().clone()),
        l.shape().clone(),
    ))
}

/// An in-place kernel over `n` elements (`yj_adam_moments`, `yj_adam_params`,
/// `yj_sum_squares`): `dst` updated from `src`, then the kernel's f32 parameters. The caller
/// has checked that `dst` and `src` hold what the kernel reads for `n` (optim.rs).
pub fn in_place(
    name: &str,
    (dst, dl): (&mut CudaStorage, &Layout),
    (src, sl): (&CudaStorage, &Layout),
    n: usize,
    params: &[f32],
) -> Result<()> {
    let device = dst.device().clone();
    let src = view(src, sl, name)?;
    let mut dst = view_mut(dst, dl, name)?;
    let n = n as u64;
    let func = device.get_or_load_custom_func(name, MODULE, PTX)?;
    let mut b = func.builder();
    b.arg(&mut dst);
    b.arg(&src);
    b.arg(&n);
    for p in params {
        b.arg(p);
    }
    // SAFETY: the kernels index `dst` and `src` within the sizes the caller checked against `n`.
    unsafe { b.launch(elementwise(n as usize)) }.w()?;
    Ok(())
}

/// Each kernel against its CPU twin. They need a GPU, so they are `#[ignore]`d: on a GPU node,
/// `cargo test --release --features cuda --lib cuda:: -- --include-ignored`.
#[cfg(test)]
mod tests {
    use crate::worker::model::ops::{Dropout, Normalize, Softmax};
    use crate::worker::train::optim::AdamW;
    use candle_core::{Device, Result, Tensor, Var};

    /// GPU 0; a test asked to run without one fails and says so.
    fn gpu() -> Device {
        Device::new_cuda(0).expect("these tests need a CUDA GPU (CUDA_VISIBLE_DEVICES)")
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
        let gpu = gpu();
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
    #[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
    fn normalize_matches_cpu() -> Result<()> {
        for shape in [(37, 384), (5, 1000), (3, 7)] {
            agrees(|x| x.apply_op1(Normalize { eps: 1e-12 }), shape, 1e-4)?;
        }
        Ok(())
    }

    #[test]
    #[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
    fn softmax_matches_cpu() -> Result<()> {
        for shape in [(300, 30), (20, 128), (4, 700)] {
            agrees(|x| x.apply_op1(Softmax), shape, 1e-5)?;
        }
        Ok(())
    }

    #[test]
    #[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
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
    #[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
    fn adamw_matches_cpu() -> Result<()> {
        let gpu = gpu();
        let run = |device: &Device| -> Result<Vec<f32>> {
            let vars = vec![
                Var::from_tensor(&random((300, 7), 3)?.to_device(device)?)?,
                Var::from_tensor(&random((1, 7), 4)?.to_device(device)?)?,
            ];
            let mut opt = AdamW::new(&vars, vec![true, false], 0.01)?;
            for step in 0..4 {
                let loss =
                    (vars[0].as_tensor().sum(0)? * vars[1].as_tensor().squeeze(0)?)?.sum_all()?;
                let clip = if step == 3 { None } else { Some(1.0) };
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

//! Launches the worker's CUDA kernels (kernels.cu, compiled to PTX by build.rs) on candle's CUDA
//! storage. candle's elementary ops would run each fused step as many small kernels, each with
//! a launch and an allocation: on a GPU that launch overhead, not arithmetic, is the cost.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::WrapErr;
use candle_core::cuda_backend::cudarc::driver::DevicePtr;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView, LaunchConfig, PushKernelArg};
use candle_core::{CudaDevice, CudaStorage, Layout, Result, Shape, Tensor};

use super::model::HiddenAct;
use super::model::ops::DropMask;
use super::model::ops::column_sum::ColumnSum;
use super::model::ops::heads::HeadLayout;

const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/yenjob_kernels.ptx"));
const MODULE: &str = "yenjob";

fn view<'a>(s: &'a CudaStorage, l: &Layout, op: &str) -> Result<CudaView<'a, f32>> {
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: expected a contiguous tensor")
    };
    Ok(s.as_cuda_slice::<f32>()?.slice(start..end))
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

/// A dropout mask as the kernels take it: the stream's state, p and the kept elements' scale;
/// p = 0 (nothing dropped) for none.
fn mask_args(drop: Option<DropMask>) -> (u64, f32, f32) {
    match drop {
        Some(d) => (d.state, d.p, d.keep_scale()),
        None => (0, 0.0, 1.0),
    }
}

/// A new buffer for a kernel's output of `n` elements.
fn output(device: &CudaDevice, n: usize) -> Result<CudaSlice<f32>> {
    // SAFETY: every kernel writing an output writes all of its elements.
    unsafe { device.alloc::<f32>(n) }
}

/// The output buffer of a kernel over `l`'s shape, wrapped as candle storage.
fn wrap(out: CudaSlice<f32>, device: &CudaDevice, shape: Shape) -> (CudaStorage, Shape) {
    (CudaStorage::wrap_cuda_slice(out, device.clone()), shape)
}

/// LayerNorm with its affine part (`yj_layer_norm`).
pub fn layer_norm(
    (x, lx): (&CudaStorage, &Layout),
    (w, lw): (&CudaStorage, &Layout),
    (b, lb): (&CudaStorage, &Layout),
    eps: f32,
) -> Result<(CudaStorage, Shape)> {
    let (cfg, width) = per_row(lx);
    check_width("layer-norm", &[lw, lb], width)?;
    let (xv, wv, bv) = (
        view(x, lx, "layer-norm")?,
        view(w, lw, "layer-norm")?,
        view(b, lb, "layer-norm")?,
    );
    let device = x.device();
    let out = output(device, lx.shape().elem_count())?;
    let func = device.get_or_load_custom_func("yj_layer_norm", MODULE, PTX)?;
    let mut builder = func.builder();
    builder
        .arg(&xv)
        .arg(&wv)
        .arg(&bv)
        .arg(&out)
        .arg(&width)
        .arg(&eps);
    // SAFETY: one block per row of `width`, within x, y (x's size) and the width-long w and b.
    unsafe { builder.launch(cfg) }.w()?;
    Ok(wrap(out, device, lx.shape().clone()))
}

/// The two planes [`layer_norm_grad`] writes beyond its first two, and what they need.
pub struct FourPlanes<'a> {
    /// The mask the third plane (dx through it) draws; `None`: all kept.
    pub drop: Option<DropMask>,
    /// A second part of the output's gradient, added to the first; the fourth plane is their sum.
    pub more: Option<(&'a CudaStorage, &'a Layout)>,
}

/// LayerNorm's backward pass (`yj_layer_norm_grad`): (2, rows, width), dx then dy * x̂; with
/// `four` (4, rows, width), dy being the sum of its parts, the third plane dx through the mask
/// and the fourth dy.
pub fn layer_norm_grad(
    (x, lx): (&CudaStorage, &Layout),
    (w, lw): (&CudaStorage, &Layout),
    (dy, ldy): (&CudaStorage, &Layout),
    eps: f32,
    four: Option<FourPlanes>,
) -> Result<(CudaStorage, Shape)> {
    let (cfg, width) = per_row(lx);
    check_width("layer-norm-grad", &[lw], width)?;
    if ldy.shape() != lx.shape() {
        candle_core::bail!("layer-norm-grad: shapes differ")
    }
    let name = "layer-norm-grad";
    let (xv, wv, dv) = (view(x, lx, name)?, view(w, lw, name)?, view(dy, ldy, name)?);
    let planes: u32 = if four.is_some() { 4 } else { 2 };
    let (drop, more) = match four {
        Some(f) => (f.drop, f.more),
        None => (None, None),
    };
    // Without a second part the kernel is given dy in its place, and never reads it.
    let mv = match more {
        Some((m, lm)) if lm.shape() == lx.shape() => view(m, lm, name)?,
        Some(_) => candle_core::bail!("{name}: the gradient's parts differ in shape"),
        None => view(dy, ldy, name)?,
    };
    let has_more = u32::from(more.is_some());
    let (state, p, keep_scale) = mask_args(drop);
    let device = x.device();
    let out = output(device, planes as usize * lx.shape().elem_count())?;
    let func = device.get_or_load_custom_func("yj_layer_norm_grad", MODULE, PTX)?;
    let mut builder = func.builder();
    builder
        .arg(&xv)
        .arg(&wv)
        .arg(&dv)
        .arg(&mv)
        .arg(&has_more)
        .arg(&out)
        .arg(&width)
        .arg(&eps)
        .arg(&planes)
        .arg(&state)
        .arg(&p)
        .arg(&keep_scale);
    // SAFETY: one block per row; x, dy and the second part have x's shape (checked), and the
    // output holds `planes` planes of x's size.
    unsafe { builder.launch(cfg) }.w()?;
    let mut dims = vec![planes as usize];
    dims.extend_from_slice(lx.dims());
    Ok(wrap(out, device, Shape::from(dims)))
}

/// The attention's probabilities (`yj_attention_probs`), or with `dy` the scores' gradient
/// (`yj_attention_probs_grad`).
pub fn attention_probs(
    (s, ls): (&CudaStorage, &Layout),
    (m, lm): (&CudaStorage, &Layout),
    dy: Option<(&CudaStorage, &Layout)>,
    scale: f32,
    drop: Option<DropMask>,
) -> Result<(CudaStorage, Shape)> {
    let name = "attention-probs";
    let (cfg, width) = per_row(ls);
    let entries = lm.shape().elem_count() / width.max(1) as usize;
    let rows = ls.shape().elem_count() / width.max(1) as usize;
    if lm.dims().last().copied() != Some(width as usize)
        || entries == 0
        || !rows.is_multiple_of(entries)
    {
        candle_core::bail!("{name}: the mask does not fit the scores")
    }
    let rows_per_entry = (rows / entries) as u32;
    let (sv, mv) = (view(s, ls, name)?, view(m, lm, name)?);
    let (state, p, keep_scale) = mask_args(drop);
    let device = s.device();
    let out = output(device, ls.shape().elem_count())?;
    let dyv = match dy {
        Some((d, ld)) if ld.shape() == ls.shape() => Some(view(d, ld, name)?),
        Some(_) => candle_core::bail!("{name}: the gradient's shape differs"),
        None => None,
    };
    let kernel = if dyv.is_some() {
        "yj_attention_probs_grad"
    } else {
        "yj_attention_probs"
    };
    let func = device.get_or_load_custom_func(kernel, MODULE, PTX)?;
    let mut builder = func.builder();
    builder.arg(&sv).arg(&mv);
    if let Some(d) = &dyv {
        builder.arg(d);
    }
    builder
        .arg(&out)
        .arg(&width)
        .arg(&rows_per_entry)
        .arg(&scale)
        .arg(&state)
        .arg(&p)
        .arg(&keep_scale);
    // SAFETY: one block per row of `width`; each row's mask row is within the mask, checked above.
    unsafe { builder.launch(cfg) }.w()?;
    Ok(wrap(out, device, ls.shape().clone()))
}

/// `act(x + bias)` (`yj_bias_act`), or with `dy` its gradient (`yj_bias_act_grad`).
pub fn bias_act(
    (x, lx): (&CudaStorage, &Layout),
    (b, lb): (&CudaStorage, &Layout),
    dy: Option<(&CudaStorage, &Layout)>,
    act: HiddenAct,
) -> Result<(CudaStorage, Shape)> {
    let name = "bias-act";
    let width = lx.dims().last().copied().unwrap_or(1).max(1) as u32;
    check_width(name, &[lb], width)?;
    let (xv, bv) = (view(x, lx, name)?, view(b, lb, name)?);
    let n = lx.shape().elem_count() as u64;
    let act = match act {
        HiddenAct::Gelu => 0u32,
        HiddenAct::GeluTanh => 1,
        HiddenAct::Relu => 2,
    };
    let device = x.device();
    let out = output(device, n as usize)?;
    let dyv = match dy {
        Some((d, ld)) if ld.shape() == lx.shape() => Some(view(d, ld, name)?),
        Some(_) => candle_core::bail!("{name}: the gradient's shape differs"),
        None => None,
    };
    let kernel = if dyv.is_some() {
        "yj_bias_act_grad"
    } else {
        "yj_bias_act"
    };
    let func = device.get_or_load_custom_func(kernel, MODULE, PTX)?;
    let mut builder = func.builder();
    builder.arg(&xv).arg(&bv);
    if let Some(d) = &dyv {
        builder.arg(d);
    }
    builder.arg(&out).arg(&n).arg(&width).arg(&act);
    // SAFETY: the kernel touches the first n elements of x, dy and the output, and bias[i % width].
    unsafe { builder.launch(elementwise(n as usize)) }.w()?;
    Ok(wrap(out, device, lx.shape().clone()))
}

/// Softmax over the last dimension (`yj_softmax`).
pub fn softmax(s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
    let (cfg, width) = per_row(l);
    let x = view(s, l, "softmax")?;
    let device = s.device();
    let out = output(device, l.shape().elem_count())?;
    let func = device.get_or_load_custom_func("yj_softmax", MODULE, PTX)?;
    let mut builder = func.builder();
    builder.arg(&x).arg(&out).arg(&width);
    // SAFETY: one block per row of `width`, within x and the output, both x's size.
    unsafe { builder.launch(cfg) }.w()?;
    Ok(wrap(out, device, l.shape().clone()))
}

/// `x * mask` (`yj_dropout`).
pub fn dropout(s: &CudaStorage, l: &Layout, mask: DropMask) -> Result<(CudaStorage, Shape)> {
    let x = view(s, l, "dropout")?;
    let device = s.device();
    let n = l.shape().elem_count() as u64;
    let out = output(device, n as usize)?;
    let func = device.get_or_load_custom_func("yj_dropout", MODULE, PTX)?;
    let mut builder = func.builder();
    let scale = mask.keep_scale();
    builder
        .arg(&x)
        .arg(&out)
        .arg(&n)
        .arg(&mask.state)
        .arg(&mask.p)
        .arg(&scale);
    // SAFETY: the kernel touches the first `n` elements of `x` and of the output, both `n` long.
    unsafe { builder.launch(elementwise(n as usize)) }.w()?;
    Ok(wrap(out, device, l.shape().clone()))
}

/// `dropout(x + bias) + skip` and its LayerNorm as (2, rows, width), or with `keep` off the
/// LayerNorm alone as (rows, width) (`yj_residual_layer_norm`). The first three are x, skip
/// and the LayerNorm's weight; then the sublayer's bias and the LayerNorm's.
pub fn residual_layer_norm(
    [(x, lx), (skip, ls), (g, lg)]: [(&CudaStorage, &Layout); 3],
    [(b, lb), (beta, lbeta)]: [(&CudaStorage, &Layout); 2],
    eps: f32,
    drop: Option<DropMask>,
    keep: bool,
) -> Result<(CudaStorage, Shape)> {
    let name = "residual-layer-norm";
    let (cfg, width) = per_row(lx);
    check_width(name, &[lb, lg, lbeta], width)?;
    if ls.shape() != lx.shape() {
        candle_core::bail!("{name}: the skip's shape differs")
    }
    let (xv, sv, gv) = (
        view(x, lx, name)?,
        view(skip, ls, name)?,
        view(g, lg, name)?,
    );
    let (bv, betav) = (view(b, lb, name)?, view(beta, lbeta, name)?);
    let (state, p, keep_scale) = mask_args(drop);
    let planes: u32 = if keep { 2 } else { 1 };
    let device = x.device();
    let out = output(device, planes as usize * lx.shape().elem_count())?;
    let func = device.get_or_load_custom_func("yj_residual_layer_norm", MODULE, PTX)?;
    let mut builder = func.builder();
    builder
        .arg(&xv)
        .arg(&bv)
        .arg(&sv)
        .arg(&gv)
        .arg(&betav)
        .arg(&out)
        .arg(&width)
        .arg(&eps)
        .arg(&state)
        .arg(&p)
        .arg(&keep_scale)
        .arg(&planes);
    // SAFETY: one block per row of `width`; x and skip have the same shape (checked), the
    // biases and weight the rows' width, and the output `planes` planes of x's size.
    unsafe { builder.launch(cfg) }.w()?;
    if !keep {
        return Ok(wrap(out, device, lx.shape().clone()));
    }
    let mut dims = vec![2];
    dims.extend_from_slice(lx.dims());
    Ok(wrap(out, device, Shape::from(dims)))
}

/// Rows split into heads, plus a bias when given (`yj_split_heads`).
pub fn split_heads(
    (x, lx): (&CudaStorage, &Layout),
    bias: Option<(&CudaStorage, &Layout)>,
    h: HeadLayout,
) -> Result<(CudaStorage, Shape)> {
    let name = "split-heads";
    let n = lx.shape().elem_count() as u64;
    let xv = view(x, lx, name)?;
    // Without a bias the kernel is given x in its place, and never reads it.
    let bv = match bias {
        Some((b, lb)) => view(b, lb, name)?,
        None => view(x, lx, name)?,
    };
    let has_bias = u32::from(bias.is_some());
    let [batch, len, heads, head_size] = [h.batch, h.len, h.heads, h.head_size].map(|d| d as u32);
    let device = x.device();
    let out = output(device, n as usize)?;
    let func = device.get_or_load_custom_func("yj_split_heads", MODULE, PTX)?;
    let mut builder = func.builder();
    builder
        .arg(&xv)
        .arg(&bv)
        .arg(&out)
        .arg(&n)
        .arg(&batch)
        .arg(&len)
        .arg(&heads)
        .arg(&head_size)
        .arg(&has_bias);
    // SAFETY: the layout was checked against x's shape (rows = batch * len, width = parts *
    // heads * head_size, the bias that width); each output element reads one of x and the bias.
    unsafe { builder.launch(elementwise(n as usize)) }.w()?;
    Ok(wrap(out, device, h.split_shape()))
}

/// One or three parts' heads merged into rows (`yj_merge_heads`).
pub fn merge_heads(
    parts: &[(&CudaStorage, &Layout)],
    h: HeadLayout,
) -> Result<(CudaStorage, Shape)> {
    let name = "merge-heads";
    let views = parts
        .iter()
        .map(|(s, l)| view(s, l, name))
        .collect::<Result<Vec<_>>>()?;
    let (Some(first), Some(last)) = (views.first(), views.last()) else {
        candle_core::bail!("{name}: no parts")
    };
    let middle = views.get(1).unwrap_or(first);
    let n = (h.parts * h.batch * h.heads * h.len * h.head_size) as u64;
    let [len, heads, head_size, count] = [h.len, h.heads, h.head_size, h.parts].map(|d| d as u32);
    let device = parts[0].0.device();
    let out = output(device, n as usize)?;
    let func = device.get_or_load_custom_func("yj_merge_heads", MODULE, PTX)?;
    let mut builder = func.builder();
    builder
        .arg(first)
        .arg(middle)
        .arg(last)
        .arg(&out)
        .arg(&n)
        .arg(&len)
        .arg(&heads)
        .arg(&head_size)
        .arg(&count);
    // SAFETY: each part is (batch, heads, len, head_size), as the layout says; output element
    // i reads one element of the part its column falls in.
    unsafe { builder.launch(elementwise(n as usize)) }.w()?;
    Ok(wrap(out, device, h.rows_shape()))
}

/// The column sums of a (rows, width) matrix, or of each of (planes, rows, width)
/// (`yj_column_sum`).
pub fn column_sum(s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
    let (planes, rows, shape) = ColumnSum::shape(l)?;
    let width = l.dims().last().copied().unwrap_or(1);
    let x = view(s, l, "column-sum")?;
    let device = s.device();
    let out = output(device, planes * width)?;
    let func = device.get_or_load_custom_func("yj_column_sum", MODULE, PTX)?;
    let mut builder = func.builder();
    let (rows, width) = (rows as u32, width as u32);
    builder.arg(&x).arg(&out).arg(&rows).arg(&width);
    let cfg = LaunchConfig {
        grid_dim: (width.div_ceil(32).max(1), planes as u32, 1),
        block_dim: (32, 16, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: a thread reads column c < width of each row < rows of its plane, within x; row 0
    // of a block writes its columns below width of its plane's output.
    unsafe { builder.launch(cfg) }.w()?;
    Ok(wrap(out, device, shape))
}

fn check_width(op: &str, layouts: &[&Layout], width: u32) -> Result<()> {
    if layouts
        .iter()
        .any(|l| l.shape().elem_count() != width as usize)
    {
        candle_core::bail!("{op}: weight and bias must have the rows' width {width}")
    }
    Ok(())
}

/// One parameter for [`adamw`]: the tensor, its gradient, its moments [m | v], its weight decay
/// for this step.
pub struct AdamParam<'a> {
    pub param: &'a Tensor,
    pub grad: &'a Tensor,
    pub moments: &'a Tensor,
    pub decay: f32,
}

/// AdamW's constants for one step (optim.rs).
pub struct AdamStep {
    pub beta1: f32,
    pub beta2: f32,
    pub step: f32,
    pub bc2_sqrt: f32,
    pub eps: f32,
}

/// Where a tensor's first element lives on the GPU.
fn device_ptr(t: &Tensor) -> Result<(u64, Layout, CudaDevice)> {
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cuda(s) = &*storage else {
        candle_core::bail!("adamw: a tensor is not on the GPU")
    };
    let slice = s.as_cuda_slice::<f32>()?;
    let stream = s.device().cuda_stream();
    let (ptr, _sync) = slice.device_ptr(&stream);
    Ok((
        ptr + 4 * layout.start_offset() as u64,
        layout.clone(),
        s.device().clone(),
    ))
}

/// AdamW's threads a block, and the elements a block takes on (64 a thread): the blocks a
/// parameter gets, so that each launch has work for every block and enough blocks to fill the
/// GPU (bert-base: ~7,000). A grid of 512 blocks for every parameter left most of its ~97,000
/// blocks without work.
const ADAM_THREADS: u32 = 256;
const ADAM_ELEMENTS_PER_BLOCK: u64 = ADAM_THREADS as u64 * 64;

/// AdamW over every parameter in two launches (`yj_adam_sum_squares`, `yj_adam_step`) where a
/// kernel per parameter would take hundreds: a table of pointers goes up, and nothing comes
/// back: clipping to `max_norm` reads the norm on the device. Returns the gradients' sum of
/// squares (one element, still on the GPU). A gradient candle left as a transposed view (the
/// weight of `x @ W.T`) is read in place, not copied.
pub fn adamw(params: &[AdamParam], max_norm: Option<f32>, k: &AdamStep) -> Result<Tensor> {
    // Gradients in neither layout are copied; the copies live until the launches are queued.
    let mut copies = Vec::new();
    let mut table: Vec<u64> = Vec::with_capacity(7 * params.len());
    let mut blocks: u64 = 0;
    let mut device = None;
    for p in params {
        let n = p.param.elem_count();
        if p.grad.elem_count() != n || p.moments.elem_count() != 2 * n {
            candle_core::bail!("adamw: a gradient or moments buffer has the wrong size")
        }
        let (param_ptr, param_layout, dev) = device_ptr(p.param)?;
        let (moments_ptr, moments_layout, _) = device_ptr(p.moments)?;
        if !param_layout.is_contiguous() || !moments_layout.is_contiguous() {
            candle_core::bail!("adamw: parameters and moments must be contiguous")
        }
        let (grad_ptr, grad_layout, _) = device_ptr(p.grad)?;
        let dims = grad_layout.dims();
        let (grad_ptr, cols) = if grad_layout.is_contiguous() {
            (grad_ptr, 0)
        } else if dims.len() == 2 && grad_layout.stride() == [1, dims[0]] {
            (grad_ptr, dims[1] as u64)
        } else {
            let copy = p.grad.contiguous()?;
            let (ptr, _, _) = device_ptr(&copy)?;
            copies.push(copy);
            (ptr, 0)
        };
        table.extend([
            param_ptr,
            grad_ptr,
            moments_ptr,
            n as u64,
            cols,
            p.decay.to_bits() as u64,
            blocks,
        ]);
        blocks += (n as u64).div_ceil(ADAM_ELEMENTS_PER_BLOCK).max(1);
        device = Some(dev);
    }
    let Some(device) = device else {
        candle_core::bail!("adamw: no parameter has a gradient")
    };
    let table = device.clone_htod(&table)?;
    let (Ok(blocks), Ok(rows)) = (u32::try_from(blocks), u32::try_from(params.len())) else {
        candle_core::bail!(
            "adamw: {blocks} blocks for {} parameters is too many",
            params.len()
        )
    };
    let grid = LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (ADAM_THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    let sum_squares = Tensor::zeros(
        1,
        candle_core::DType::F32,
        &candle_core::Device::Cuda(device.clone()),
    )?;
    let (acc, _, _) = device_ptr(&sum_squares)?;
    let func = device.get_or_load_custom_func("yj_adam_sum_squares", MODULE, PTX)?;
    let mut builder = func.builder();
    builder.arg(&acc).arg(&table).arg(&rows);
    // SAFETY: each row of the table names live buffers of the sizes it gives (checked above),
    // and the rows' first blocks rise from 0 below the grid's size, so each block finds its
    // row; `acc` is the one-element sum.
    unsafe { builder.launch(grid) }.w()?;
    let max_norm = max_norm.unwrap_or(0.0);
    let func = device.get_or_load_custom_func("yj_adam_step", MODULE, PTX)?;
    let mut builder = func.builder();
    builder
        .arg(&table)
        .arg(&rows)
        .arg(&acc)
        .arg(&max_norm)
        .arg(&k.beta1)
        .arg(&k.beta2)
        .arg(&k.step)
        .arg(&k.bc2_sqrt)
        .arg(&k.eps);
    // SAFETY: as above; each element is read and written by one thread.
    unsafe { builder.launch(grid) }.w()?;
    drop(copies);
    Ok(sum_squares)
}

/// Each kernel against its CPU twin. They need a GPU, so they are `#[ignore]`d: on a GPU node,
/// `cargo test --release --features cuda --lib cuda:: -- --include-ignored`.
#[cfg(test)]
mod tests;

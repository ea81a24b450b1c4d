//! Each CUDA kernel against its CPU twin (they need a GPU: `#[ignore]`d).

use crate::worker::model::ops::Softmax;
use crate::worker::model::ops::activation::BiasAct;
use crate::worker::model::ops::attention::AttentionProbs;
use crate::worker::model::ops::column_sum::ColumnSum;
use crate::worker::model::ops::dropout::{DropMask, Dropout};
use crate::worker::model::ops::layer_norm::LayerNorm;
use crate::worker::model::ops::{
    merge_heads, residual_layer_norm, residual_norm_backward, split_heads,
};
use crate::worker::model::{Grads, HiddenAct};
use crate::worker::train::optim::AdamW;
use candle_core::{Device, Result, Tensor, Var};

/// GPU 0; a test asked to run without one fails and says so.
fn gpu() -> Device {
    Device::new_cuda(0).expect("these tests need a CUDA GPU (CUDA_VISIBLE_DEVICES)")
}

fn random(shape: &[usize], seed: u64) -> Result<Tensor> {
    let mut rng = crate::worker::rng::SplitMix64::keyed(seed, &[]);
    let n = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.next_f32() * 6.0 - 3.0).collect();
    Tensor::from_vec(data, shape, &Device::Cpu)
}

fn max_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
    (a - b.to_device(a.device())?)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar()
}

/// `op`'s output and the gradients it passes back to `inputs` (those it gives one), on
/// the CPU and the GPU, must agree within `tol`.
fn agrees(inputs: &[Tensor], op: impl Fn(&[Tensor]) -> Result<Tensor>, tol: f32) -> Result<()> {
    let gpu = gpu();
    let run = |device: &Device| -> Result<Vec<Tensor>> {
        let vars: Vec<Var> = inputs
            .iter()
            .map(|x| Var::from_tensor(&x.to_device(device)?))
            .collect::<Result<_>>()?;
        let xs: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let y = op(&xs)?;
        let weights = random(y.dims(), 99)?.to_device(device)?;
        let grads = (&y * weights)?.sum_all()?.backward()?;
        let mut out = vec![y.to_device(&Device::Cpu)?];
        for x in &xs {
            if let Some(g) = grads.get(x) {
                out.push(g.to_device(&Device::Cpu)?);
            }
        }
        Ok(out)
    };
    let (cpu, gpu) = (run(&Device::Cpu)?, run(&gpu)?);
    assert_eq!(cpu.len(), gpu.len(), "gradients given");
    for (k, (a, b)) in cpu.iter().zip(&gpu).enumerate() {
        let d = max_diff(a, b)?;
        assert!(d <= tol, "output {k} differs by {d}");
    }
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
fn layer_norm_matches_cpu() -> Result<()> {
    for (rows, width) in [(37, 384), (5, 1000), (3, 7)] {
        let inputs = [
            random(&[rows, width], 1)?,
            random(&[width], 2)?,
            random(&[width], 3)?,
        ];
        agrees(
            &inputs,
            |x| x[0].apply_op3(&x[1], &x[2], LayerNorm { eps: 1e-12 }),
            2e-3,
        )?;
    }
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
fn attention_probs_match_cpu() -> Result<()> {
    for (b, heads, t) in [(3, 2, 30), (2, 12, 128), (1, 1, 700)] {
        let mut mask = vec![0f32; b * t];
        mask[t - 3..t].fill(-10_000.0);
        let mask = Tensor::from_vec(mask, (b, t), &Device::Cpu)?;
        for drop in [None, Some(DropMask { state: 77, p: 0.1 })] {
            let inputs = [random(&[b, heads, t, t], 4)?];
            agrees(
                &inputs,
                |x| {
                    let mask = mask.to_device(x[0].device())?;
                    x[0].apply_op2(&mask, AttentionProbs { scale: 0.125, drop })
                },
                1e-5,
            )?;
        }
    }
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
fn bias_act_matches_cpu() -> Result<()> {
    for act in [HiddenAct::Gelu, HiddenAct::GeluTanh, HiddenAct::Relu] {
        let inputs = [random(&[41, 1536], 5)?, random(&[1536], 6)?];
        agrees(&inputs, |x| x[0].apply_op2(&x[1], BiasAct(act)), 1e-3)?;
    }
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
fn softmax_matches_cpu() -> Result<()> {
    for shape in [[300, 3], [20, 128]] {
        let gpu = gpu();
        let x = random(&shape, 7)?;
        let cpu = x.apply_op1(Softmax)?;
        let on_gpu = x.to_device(&gpu)?.apply_op1(Softmax)?;
        let d = max_diff(&cpu, &on_gpu)?;
        assert!(d <= 1e-6, "differs by {d}");
    }
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
fn dropout_draws_the_cpu_mask() -> Result<()> {
    // Same mask: outputs and gradients equal exactly.
    let mask = DropMask {
        state: 12345,
        p: 0.1,
    };
    agrees(
        &[random(&[70_001, 3], 8)?],
        |x| x[0].apply_op1(Dropout(mask)),
        0.0,
    )
}

/// The residual sum with its LayerNorm in one kernel: the residual exactly as on the CPU (the
/// same mask and additions), the LayerNorm as the LayerNorm kernel's.
#[test]
#[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
fn residual_layer_norm_matches_cpu() -> Result<()> {
    let gpu = gpu();
    for drop in [None, Some(DropMask { state: 33, p: 0.1 })] {
        let inputs = [
            random(&[67, 768], 25)?,
            random(&[768], 26)?,
            random(&[67, 768], 27)?,
            random(&[768], 28)?,
            random(&[768], 29)?,
        ];
        let on = |d: &Device, keep: bool| -> Result<(Option<Tensor>, Tensor)> {
            let x: Vec<Tensor> = inputs
                .iter()
                .map(|t| t.to_device(d))
                .collect::<Result<_>>()?;
            residual_layer_norm(&x[0], &x[1], &x[2], drop, (&x[3], &x[4], 1e-12), keep)
        };
        let ((residual, y), (gpu_residual, gpu_y)) = (on(&Device::Cpu, true)?, on(&gpu, true)?);
        let (Some(residual), Some(gpu_residual)) = (residual, gpu_residual) else {
            panic!("the residual was asked for")
        };
        assert_eq!(max_diff(&residual, &gpu_residual)?, 0.0);
        let d = max_diff(&y, &gpu_y)?;
        assert!(d <= 2e-3, "the LayerNorm differs by {d}");
        // Without the residual, the LayerNorm written in place: the same bits as with it.
        let (_, alone) = on(&gpu, false)?;
        assert_eq!(max_diff(&gpu_y, &alone)?, 0.0);
    }
    Ok(())
}

/// Splitting rows into heads (with and without a bias) and merging them back move the same
/// elements as on the CPU: outputs and gradients equal exactly but for the bias's sum.
#[test]
#[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
fn heads_split_and_merge_as_on_the_cpu() -> Result<()> {
    for (batch, len, heads, size) in [(2, 5, 4, 3), (16, 40, 12, 64)] {
        let width = 3 * heads * size;
        let inputs = [random(&[batch * len, width], 13)?, random(&[width], 14)?];
        agrees(
            &inputs,
            |x| split_heads(&x[0], Some(&x[1]), 3, batch, heads),
            1e-3,
        )?;
        agrees(
            &[random(&[batch * len, heads * size], 15)?],
            |x| split_heads(&x[0], None, 1, batch, heads),
            0.0,
        )?;
        agrees(
            &[random(&[batch, heads, len, size], 16)?],
            |x| merge_heads(&[&x[0]]),
            0.0,
        )?;
        let gpu = gpu();
        let parts = [17, 18, 19].map(|seed| random(&[batch, heads, len, size], seed));
        let parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
        let cpu = merge_heads(&parts.iter().collect::<Vec<_>>())?;
        let on_gpu = parts
            .iter()
            .map(|p| p.to_device(&gpu))
            .collect::<Result<Vec<_>>>()?;
        let on_gpu = merge_heads(&on_gpu.iter().collect::<Vec<_>>())?;
        assert_eq!(max_diff(&cpu, &on_gpu)?, 0.0);
    }
    Ok(())
}

/// LayerNorm's backward pass for a gradient in two parts, with the sublayer's gradient
/// through the dropout mask and the gradient's sum as third and fourth planes, and the plane
/// sums that follow it.
#[test]
#[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
fn residual_norm_backward_matches_cpu() -> Result<()> {
    let gpu = gpu();
    let drops = [None, Some(DropMask { state: 41, p: 0.1 })];
    for (drop, two_parts) in drops.into_iter().flat_map(|d| [(d, false), (d, true)]) {
        let inputs = [
            random(&[53, 768], 21)?,
            random(&[768], 22)?,
            random(&[53, 768], 23)?,
            random(&[53, 768], 24)?,
        ];
        let on = |d: &Device| -> Result<Vec<Tensor>> {
            let x: Vec<Tensor> = inputs
                .iter()
                .map(|t| t.to_device(d))
                .collect::<Result<_>>()?;
            let more = two_parts.then_some(&x[3]);
            let g = residual_norm_backward(&x[0], &x[1], &x[2], more, 1e-12, drop)?;
            Ok(vec![
                g.dx,
                g.dsublayer,
                g.dweight,
                g.dbias,
                g.dsublayer_bias,
            ])
        };
        let (cpu, on_gpu) = (on(&Device::Cpu)?, on(&gpu)?);
        for (k, (a, b)) in cpu.iter().zip(&on_gpu).enumerate() {
            let d = max_diff(a, b)?;
            assert!(d <= 2e-3, "gradient {k} differs by {d}");
        }
    }
    Ok(())
}

#[test]
#[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
fn column_sum_matches_cpu() -> Result<()> {
    let gpu = gpu();
    for (rows, width) in [(1, 3), (37, 64), (2048, 768), (800, 3072), (5, 1000)] {
        let x = random(&[rows, width], 20)?;
        let cpu = x.apply_op1_no_bwd(&ColumnSum)?;
        let on_gpu = x.to_device(&gpu)?.apply_op1_no_bwd(&ColumnSum)?;
        // The kernel adds in its twin's order; the margin only guards against the compiler.
        let d = max_diff(&cpu, &on_gpu)?;
        assert!(d <= 1e-4, "{rows}x{width}: differs by {d}");
    }
    let planes = random(&[3, 300, 100], 24)?;
    let cpu = planes.apply_op1_no_bwd(&ColumnSum)?;
    let on_gpu = planes.to_device(&gpu)?.apply_op1_no_bwd(&ColumnSum)?;
    assert_eq!(on_gpu.dims(), [3, 100]);
    let d = max_diff(&cpu, &on_gpu)?;
    assert!(d <= 1e-4, "planes differ by {d}");
    Ok(())
}

/// The GPU's AdamW over all parameters in two launches equals the CPU's per-tensor update,
/// with weight decay on two parameters, clipping, a parameter that several blocks share, and
/// a gradient that backward leaves transposed (the weight of `x @ W.T`), which the GPU reads
/// in place.
#[test]
#[ignore = "needs a CUDA GPU: --include-ignored on a GPU node"]
fn adamw_matches_cpu() -> Result<()> {
    let gpu = gpu();
    let x = random(&[5, 300], 9)?;
    let run = |device: &Device| -> Result<Vec<f32>> {
        // The third parameter spans several of the kernels' blocks.
        let vars = vec![
            Var::from_tensor(&random(&[7, 300], 3)?.to_device(device)?)?,
            Var::from_tensor(&random(&[7], 4)?.to_device(device)?)?,
            Var::from_tensor(&random(&[3, 20_000], 5)?.to_device(device)?)?,
        ];
        let x = x.to_device(device)?;
        let mut opt = AdamW::new(&vars, vec![true, false, true], 0.01)?;
        for step in 0..4 {
            let y = x
                .matmul(&vars[0].as_tensor().t()?)?
                .broadcast_add(vars[1].as_tensor())?;
            let loss = (y.sqr()?.sum_all()? + (vars[2].as_tensor().sqr()?.sum_all()? * 0.5)?)?;
            let clip = if step == 3 { None } else { Some(1.0) };
            let grads = Grads::from_store(&vars, &loss.backward()?);
            opt.step(&vars, &grads, 1e-2, clip)?;
        }
        let mut all = Vec::new();
        for var in &vars {
            all.extend(var.as_tensor().flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(all)
    };
    let (cpu, gpu) = (run(&Device::Cpu)?, run(&gpu)?);
    let diff = cpu
        .iter()
        .zip(&gpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-4, "parameters differ by {diff}");
    Ok(())
}

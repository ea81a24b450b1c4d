//! What the ops' tests share: random inputs, values and gradients through candle's autograd.

use candle_core::{Device, Result, Tensor, Var};

use crate::worker::rng::SplitMix64;

pub fn random(shape: &[usize], seed: u64) -> Result<Tensor> {
    let mut rng = SplitMix64::keyed(seed, &[]);
    let n = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.next_f32() * 4.0 - 2.0).collect();
    Tensor::from_vec(data, shape, &Device::Cpu)
}

/// Values and the gradients of every input, as (name, tensor) pairs, for `f` over `inputs`.
pub fn run(inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>) -> Result<Vec<Vec<f32>>> {
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

pub fn assert_close(fused: &[Vec<f32>], plain: &[Vec<f32>], tol: f32) {
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

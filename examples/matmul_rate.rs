//! The FLOP floor's denominator: how fast candle multiplies f32 matrices on this CPU, at the
//! shapes BERT training uses (tokens x hidden x hidden/intermediate). Prints GFLOP/s.

use candle_core::{Device, Tensor};

fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let mut best: f64 = 0.0;
    for (m, k, n) in [
        (512, 384, 384),
        (512, 384, 1536),
        (512, 1536, 384),
        (1024, 1024, 1024),
    ] {
        let a = Tensor::randn(0f32, 1.0, (m, k), &dev)?;
        let b = Tensor::randn(0f32, 1.0, (k, n), &dev)?;
        let _ = a.matmul(&b)?; // warm up
        let reps = 20;
        let start = std::time::Instant::now();
        for _ in 0..reps {
            let _ = a.matmul(&b)?;
        }
        let secs = start.elapsed().as_secs_f64();
        let gflops = 2.0 * (m * k * n * reps) as f64 / secs / 1e9;
        println!("{m}x{k} @ {k}x{n}: {gflops:.1} GFLOP/s");
        best = best.max(gflops);
    }
    println!("best: {best:.1} GFLOP/s");
    Ok(())
}

//! With the `cuda` feature, compiles the worker's CUDA kernels (src/worker/cuda/kernels.cu) to
//! PTX with nvcc, which candle's own kernels need anyway. The PTX targets compute_75 (Turing)
//! and newer; the driver compiles it for the GPU at hand when the worker first loads it.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let source = "src/worker/cuda/kernels.cu";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-env-changed=NVCC");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    let nvcc = std::env::var("NVCC")
        .ok()
        .or_else(|| {
            std::env::var("CUDA_HOME")
                .ok()
                .map(|h| format!("{h}/bin/nvcc"))
        })
        .filter(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| "nvcc".into());
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("yenjob_kernels.ptx");
    let status = std::process::Command::new(&nvcc)
        .args(["-ptx", "-O3", "-arch=compute_75", source, "-o"])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {nvcc} (the `cuda` feature needs nvcc): {e}"));
    assert!(status.success(), "{nvcc} failed on {source}");
}

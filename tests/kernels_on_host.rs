//! The CUDA kernels' arithmetic, checked on a machine without a GPU: builds
//! tests/kernels_on_host/emulate.cpp, which includes src/worker/cuda/kernels.cu and runs the
//! kernels on host threads, with the host's C++ compiler (`CXX`, else `c++`; C++20), and runs
//! it. That file says which kernels it checks, and against what.

use std::process::Command;

#[test]
fn kernels_compute_their_definitions_on_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("emulate");
    let compiler = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let source = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/kernels_on_host/emulate.cpp"
    );
    let built = Command::new(&compiler)
        .args(["-O2", "-std=c++20", "-pthread", source, "-o"])
        .arg(&program)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C++ compiler `{compiler}` (set CXX): {e}"));
    assert!(
        built.status.success(),
        "`{compiler}` could not build {source}:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let ran = Command::new(&program).output().unwrap();
    assert!(
        ran.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
}

#!/usr/bin/env bash
# cuda-toolkit.sh [--compiler-only] [DIR] — a CUDA 13.0 build toolchain from PyPI's NVIDIA
# wheels, for `cargo build --release --features cuda` on a machine without a CUDA toolkit (no
# GPU needed to build). Puts nvcc, the headers, the libraries candle links to and a link-time
# stub of the driver (libcuda.so: the real one comes with the GPU node's driver) under DIR
# (default .cuda/), then prints the environment to build with:
#
#     eval "$(scripts/cuda-toolkit.sh)" && cargo build --release --features cuda
#
# --compiler-only fetches nvcc and the headers alone (~100 MB instead of ~800 MB): enough for
# `cargo check --features cuda`, which compiles every CUDA kernel but links nothing (CI).
#
# CUDA 13.0 matches driver 580; a newer toolkit writes PTX that driver cannot load. The binary
# then needs the CUDA 13 runtime libraries (cuBLAS, cuRAND, NVRTC, cudart) on the GPU node:
# its toolkit's, or the nvidia-* wheels that PyTorch brings (bench/gpu.sh finds those).
# CUDA_COMPUTE_CAP (default 90: H100/H200) picks the GPU generation the kernels are built for.
set -euo pipefail
cd "$(dirname "$0")/.."
compiler_only=false
if [ "${1:-}" = --compiler-only ]; then compiler_only=true; shift; fi
DEST=$(realpath -m "${1:-.cuda}")
ROOT=$DEST/nvidia/cu13
fetch() {   # fetch WHEEL==VERSION...: download and unpack into DEST
  local wheels; wheels=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --dest "$wheels" "$@" >&2
  for w in "$wheels"/*.whl; do python3 -m zipfile -e "$w" "$DEST"; done
  rm -rf "$wheels"
}
if [ ! -x "$ROOT/bin/nvcc" ]; then
  fetch nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
    nvidia-cuda-cccl==13.0.85 nvidia-cuda-runtime==13.0.96
  chmod +x "$ROOT"/bin/* "$ROOT"/nvvm/bin/*
fi
if $compiler_only; then
  printf 'export CUDA_HOME=%s\nexport PATH=%s/bin:$PATH\nexport CUDARC_CUDA_VERSION=13000\nexport CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}\n' "$ROOT" "$ROOT"
  exit 0
fi
if [ ! -f "$ROOT/lib/libcublas.so.13" ]; then
  fetch nvidia-cuda-nvrtc==13.0.88 nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35
fi
# The linker wants unversioned names.
for l in cudart cublas cublasLt nvrtc; do ln -sf "lib$l.so.13" "$ROOT/lib/lib$l.so"; done
ln -sf libcurand.so.10 "$ROOT/lib/libcurand.so"
# libcuda.so belongs to the driver: link against a stub exporting the driver API that cudarc
# binds (its names, from cudarc's own bindings), with the driver's soname.
if [ ! -f "$ROOT/lib/stubs/libcuda.so" ]; then
  cudarc=$(cargo metadata --features cuda --format-version 1 2>/dev/null | python3 -c '
import json, sys
m = json.load(sys.stdin)
print(next(p["manifest_path"] for p in m["packages"] if p["name"] == "cudarc").rsplit("/", 1)[0])' 2>/dev/null) || {
    echo "cuda-toolkit.sh: cannot find cudarc's sources with 'cargo metadata --features cuda'; run 'cargo fetch' in the repository first" >&2
    exit 1
  }
  mkdir -p "$ROOT/lib/stubs"
  grep -oE 'fn cu[A-Za-z0-9_]+\(' "$cudarc/src/driver/sys/mod.rs" | sort -u |
    sed -E 's/fn (cu[A-Za-z0-9_]+)\(/int \1(void) { return 999; }/' > "$ROOT/lib/stubs/cuda_stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$ROOT/lib/stubs/libcuda.so" "$ROOT/lib/stubs/cuda_stub.c"
fi
cat <<ENV
export CUDA_HOME=$ROOT
export PATH=$ROOT/bin:\$PATH
export LIBRARY_PATH=$ROOT/lib/stubs:$ROOT/lib
export CUDARC_CUDA_VERSION=13000
export CUDA_COMPUTE_CAP=\${CUDA_COMPUTE_CAP:-90}
ENV

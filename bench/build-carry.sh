#!/usr/bin/env bash
# bench/build-carry.sh [OUT] — everything bench/gpu-speed.sh needs on a GPU machine that has no
# Rust toolchain, built here (no GPU needed): the CUDA worker and the library's test binary,
# stripped and xz'd; all-MiniLM-L6-v2 stored as float16; the data file; and COMMIT, the commit
# they were built from. OUT defaults to .bench/carry (under 64 MiB: what `run` may carry).
#
#   bench/build-carry.sh && run: bench/gpu-speed.sh .bench/carry $OUT/gpu   (carry .bench/carry)
#
# The CUDA build goes to target-cuda/ (CARGO_TARGET_DIR overrides), so that it does not
# rebuild the CPU build's dependencies. Cold, candle's CUDA kernels compile to PTX: about 25
# minutes on 2 cores; after a change to yenjob alone, a few minutes. Needs the model
# (scripts/fetch-model.sh) and the data (scripts/link-data.sh), which it fetches and links if
# they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.bench/carry}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target-cuda}
log() { echo "[build-carry $(date +%T)] $*" >&2; }

[ -f models/all-MiniLM-L6-v2/model.safetensors ] || scripts/fetch-model.sh >&2
[ -e data/Sentences_AllAgree.txt ] || scripts/link-data.sh >&2
eval "$(scripts/cuda-toolkit.sh)"
log "building the CUDA worker in $CARGO_TARGET_DIR"
cargo build --release --features cuda
tests=$(cargo test --release --features cuda --lib --no-run --message-format=json |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])')
[ -n "$tests" ] || { echo "build-carry: cargo built no library test binary" >&2; exit 1; }

rm -rf "$OUT" && mkdir -p "$OUT"
strip -o "$OUT/yenjob" "$CARGO_TARGET_DIR/release/yenjob"
strip -o "$OUT/yenjob-tests" "$tests"
xz -T0 -9 "$OUT/yenjob" "$OUT/yenjob-tests"
python3 bench/to-fp16.py models/all-MiniLM-L6-v2 "$OUT/minilm-fp16"
cp -L data/Sentences_AllAgree.txt "$OUT/"
git rev-parse HEAD > "$OUT/COMMIT"
git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo "(with uncommitted changes)" >> "$OUT/COMMIT"
size=$(du -sm "$OUT" | cut -f1)
log "$OUT: ${size} MiB ($(head -1 "$OUT/COMMIT"))"
[ "$size" -le 64 ] || { echo "build-carry: $OUT is ${size} MiB, over the 64 MiB run may carry" >&2; exit 1; }

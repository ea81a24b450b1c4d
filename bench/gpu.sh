#!/usr/bin/env bash
# bench/gpu.sh BIN MODEL DATA OUT — BENCHMARKS.md's side-by-side on a GPU machine: the worker
# built with `--features cuda` (length bucketing, and exactly the reference's batches) against
# PyTorch + transformers on the same GPU (padding to 128, dynamic padding), same weights, split
# and hyper-parameters as bench/run.sh; then the same at bert-base size (random weights from
# bench/make-bert-base.py: the worker against PyTorch with dynamic padding on the worker's
# batches; BERT_BASE=0 skips it). Needs the CUDA 13 runtime libraries (cuBLAS, cuRAND,
# NVRTC, cudart: a CUDA toolkit, or the nvidia-* Python wheels that PyTorch brings) and python3
# with torch + transformers. Summarize with `bench/summarize.py OUT` afterwards.
set -euo pipefail
BIN=$(realpath "$1") MODEL=$(realpath "$2") DATA=$(realpath "$3") OUT=$4
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
# The CUDA libraries the binary links to: a toolkit's, else those of PyTorch's wheels.
libs=$(python3 -c 'import nvidia; print(" ".join(nvidia.__path__))' 2>/dev/null || true)
extra=$(find /usr/local/cuda/lib64 $libs -name 'libcublas.so.*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
extra2=$(find $libs -name 'libcurand.so.*' -o -name 'libnvrtc.so.*' -o -name 'libcudart.so.*' 2>/dev/null | xargs -r -n1 dirname | sort -u | paste -sd:)
export LD_LIBRARY_PATH="$extra:$extra2:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
ldd "$BIN" | grep -E 'cuda|cublas|curand|nvrtc|not found' || true

. bench/spec.sh
spec() {   # spec NAME BUCKETING [SEED]
  write_spec "$OUT/$1.toml" "$1" "$2" "$DATA" "$MODEL" cuda "${3:-42}"
}
spec candle-bucketed true
spec candle-reference-batches false
for run in candle-bucketed candle-reference-batches; do
  echo "== $run"
  rm -rf "${OUT:?}/$run"
  "$BIN" worker --spec "$OUT/$run.toml" --run-dir "$OUT/$run" > "$OUT/$run.log" 2>&1 || { tail -20 "$OUT/$run.log"; exit 1; }
  grep -E '^\[(model|eval|done|device)\]|^\[gpu\] [^{]' "$OUT/$run.log" || true
done
REF="$OUT/candle-reference-batches"
for mode in padded dynamic; do
  echo "== torch-$mode"
  flag=""; [ $mode = dynamic ] && flag="--dynamic-padding"
  python3 bench/reference.py --device cuda --threads "$(nproc)" --data "$DATA" --model "$MODEL" \
    --split "$REF/split.json" --batches "$REF/batches.json" $flag --out "$OUT/torch-$mode.json" > "$OUT/torch-$mode.log" 2>&1 \
    || { tail -20 "$OUT/torch-$mode.log"; exit 1; }
  grep -E '^epoch' "$OUT/torch-$mode.log"
done

# bert-base size: speed only (random weights), on the worker's bucketed batches.
if [ "${BERT_BASE:-1}" = 1 ]; then
  BERT=$(mktemp -d)/bert-base
  python3 bench/make-bert-base.py --tokenizer "$MODEL" --out "$BERT" > "$OUT/bert-base.log" 2>&1 || tail -5 "$OUT/bert-base.log"
  write_spec "$OUT/bert-base-worker.toml" bert-base-worker true "$DATA" "$BERT" cuda
  echo "== bert-base-worker"
  rm -rf "$OUT/bert-base-worker"
  "$BIN" worker --spec "$OUT/bert-base-worker.toml" --run-dir "$OUT/bert-base-worker" > "$OUT/bert-base-worker.log" 2>&1 \
    && grep -E '^\[(model|done)\]|^\[gpu\] [^{]' "$OUT/bert-base-worker.log"
  rm -rf "$OUT/bert-base-worker/model"
  echo "== bert-base-torch"
  python3 bench/reference.py --device cuda --threads "$(nproc)" --data "$DATA" --model "$BERT" --dynamic-padding \
    --split "$OUT/bert-base-worker/split.json" --batches "$OUT/bert-base-worker/batches.json" --out "$OUT/bert-base-torch.json" \
    > "$OUT/bert-base-torch.log" 2>&1 && grep -E '^epoch' "$OUT/bert-base-torch.log"
fi

# Accuracy over several seeds (SEEDS="1 2 3 ..."): one seed's test set has 226 sentences, so one
# sentence is 0.44 points. Each seed: the worker (its defaults: length bucketing) and PyTorch
# with each padding, on the worker's split for that seed, each shuffling the training set its
# own way. Stops starting new seeds after SEEDS_BUDGET_S seconds.
start=$SECONDS
for seed in ${SEEDS:-}; do
  [ $((SECONDS - start)) -lt "${SEEDS_BUDGET_S:-600}" ] || { echo "seed budget spent before seed $seed"; break; }
  spec "seed-$seed" true "$seed"
  "$BIN" worker --spec "$OUT/seed-$seed.toml" --run-dir "$OUT/seed-$seed" > "$OUT/seed-$seed.log" 2>&1 || { tail -5 "$OUT/seed-$seed.log"; continue; }
  rm -rf "$OUT/seed-$seed/model"
  for mode in padded dynamic; do
    flag=""; [ $mode = dynamic ] && flag="--dynamic-padding"
    python3 bench/reference.py --device cuda --threads "$(nproc)" --seed "$seed" --data "$DATA" --model "$MODEL" \
      --split "$OUT/seed-$seed/split.json" $flag --out "$OUT/seed-$seed/torch-$mode.json" > "$OUT/seed-$seed/torch-$mode.log" 2>&1 || tail -5 "$OUT/seed-$seed/torch-$mode.log"
  done
  python3 - "$OUT/seed-$seed" <<'PY'
import json, sys
d = sys.argv[1]
s = json.load(open(f"{d}/summary.json"))
p = json.load(open(f"{d}/torch-padded.json"))
y = json.load(open(f"{d}/torch-dynamic.json"))
print(f"{d}: test accuracy worker {s['after']['accuracy']:.3f}, torch padded {p['after']['accuracy']:.3f}, torch dynamic {y['after']['accuracy']:.3f}")
PY
done

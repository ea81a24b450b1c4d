#!/usr/bin/env bash
# bench/run.sh [OUT] — the side-by-side benchmark of BENCHMARKS.md, in one run on one machine:
# the candle worker (length bucketing, and on exactly the reference's batches) against PyTorch +
# transformers (padding to 128 as the tutorial does, and dynamic padding), same MiniLM weights,
# split and hyper-parameters. Takes ~20 min on 2 cores; run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
scripts/fetch-model.sh >/dev/null
scripts/link-data.sh >/dev/null
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q torch transformers
fi
cargo build --release --examples -q
target/release/examples/matmul_rate | tee "$OUT/matmul.txt"

. bench/spec.sh
spec() {   # spec NAME BUCKETING
  write_spec "$OUT/$1.toml" "$1" "$2" "$PWD/data/Sentences_AllAgree.txt" "$PWD/models/all-MiniLM-L6-v2" cpu
}
spec candle-bucketed true
spec candle-reference-batches false
for run in candle-bucketed candle-reference-batches; do
  echo "== $run"
  rm -rf "${OUT:?}/$run"
  target/release/yenjob worker --spec "$OUT/$run.toml" --run-dir "$OUT/$run" > "$OUT/$run.log" 2>&1
  grep -E '^\[(eval|done)\]' "$OUT/$run.log"
done
REF="$OUT/candle-reference-batches"
for mode in padded dynamic; do
  echo "== torch-$mode"
  flag=""; [ $mode = dynamic ] && flag="--dynamic-padding"
  .venv-bench/bin/python bench/reference.py --data data/Sentences_AllAgree.txt --model models/all-MiniLM-L6-v2 \
    --split "$REF/split.json" --batches "$REF/batches.json" $flag --out "$OUT/torch-$mode.json" > "$OUT/torch-$mode.log" 2>&1
  grep -E '^epoch' "$OUT/torch-$mode.log"
done
.venv-bench/bin/python bench/summarize.py "$OUT" | tee "$OUT/table.md"

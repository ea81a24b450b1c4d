#!/usr/bin/env bash
# bench/gpu-speed.sh BUILT OUT — the GPU measurements of BENCHMARKS.md's speed work in one
# script (about three minutes on an H200), for a GPU machine that has python3 with torch +
# transformers but no Rust toolchain. BUILT is a folder of what was built elsewhere:
#   yenjob.xz        the worker, `cargo build --release --features cuda`, stripped, xz'd
#   yenjob-tests.xz  the library's test binary, same build (`cargo test --no-run`)
#   minilm-fp16/     all-MiniLM-L6-v2 stored as float16 (both stacks load it as float32)
#   Sentences_AllAgree.txt
# In order of importance (later parts are skipped once BUDGET_S seconds have passed):
#   1. every CUDA kernel against its CPU twin (the ignored cuda:: tests);
#   2. bert-base size (bench/make-bert-base.py), 3 epochs: the worker in f32 and in tf32, and
#      PyTorch eager on exactly the worker's batches with dynamic padding;
#   3. MiniLM, the same three;
#   4. the parity oracle (bench/parity.py) on the GPU, f32 and tf32;
#   5. MiniLM test accuracy over seeds 1-4, worker in f32 and in tf32;
#   6. `yenjob predict` of the whole data file on the GPU;
#   7. `yenjob score` of a 100,000-row CSV on the GPU (rows/s, peak memory);
#   8. a fine-tune stopped by SIGUSR1 and resumed from its checkpoint (scripts/gpu-resume-check.sh).
# PARTS="6 7" runs only those parts (default: all). GPU utilisation is sampled by nvidia-smi
# every 100 ms while each training runs. When part 1 fails the script stops there, unless
# KEEP_GOING=1.
set -uo pipefail
BUILT=$(realpath "$1") OUT=$2
mkdir -p "$OUT" && OUT=$(realpath "$OUT")
cd "$(dirname "$0")/.."
START=$SECONDS
BUDGET_S=${BUDGET_S:-420}
# DEVICE=cpu rehearses the script on a machine without a GPU (with a fake nvidia-smi on PATH).
DEVICE=${DEVICE:-cuda}
budget() { [ $((SECONDS - START)) -lt "$BUDGET_S" ] || { echo "== budget spent: skipping $1"; return 1; }; }
PARTS=" ${PARTS:-1 2 3 4 5 6 7 8} "
part() { [[ $PARTS == *" ${1%.} "* ]] && echo "== $*"; }
libs=$(python3 -c 'import nvidia; print(" ".join(nvidia.__path__))' 2>/dev/null || true)
extra=$(find /usr/local/cuda/lib64 $libs -name 'libcublas.so.*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
extra2=$(find $libs -name 'libcurand.so.*' -o -name 'libnvrtc.so.*' -o -name 'libcudart.so.*' 2>/dev/null | xargs -r -n1 dirname | sort -u | paste -sd:)
export LD_LIBRARY_PATH="$extra:$extra2:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' | tee -a "$OUT/gpu.txt"
# Binaries and models stay out of OUT, which holds only logs and results.
WORK=$(mktemp -d)
BIN=$WORK/yenjob
xz -dc "$BUILT/yenjob.xz" > "$BIN" && xz -dc "$BUILT/yenjob-tests.xz" > "$WORK/yenjob-tests" && chmod +x "$BIN" "$WORK/yenjob-tests"
DATA=$BUILT/Sentences_AllAgree.txt MINI=$BUILT/minilm-fp16
. bench/spec.sh

# sampled NAME CMD...: runs CMD with GPU utilisation sampled into NAME.util; prints seconds.
sampled() {
  local name=$1; shift
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 100 > "$OUT/$name.util" &
  local sampler=$! t0=$SECONDS
  "$@" > "$OUT/$name.log" 2>&1; local rc=$?
  kill $sampler 2>/dev/null; wait $sampler 2>/dev/null
  [ $rc = 0 ] || { echo "$name failed ($rc):"; tail -15 "$OUT/$name.log"; }
  return $rc
}
# worker NAME MODEL BUCKETING PRECISION [SEED]
worker() {
  write_spec "$OUT/$1.toml" "$1" "$3" "$DATA" "$2" "$DEVICE" "${5:-42}"
  echo "precision = \"$4\"" >> "$OUT/$1.toml"
  rm -rf "${OUT:?}/$1"
  sampled "$1" "$BIN" worker --spec "$OUT/$1.toml" --run-dir "$OUT/$1" || return 1
  grep -E '^\[(device|model|done)\]' "$OUT/$1.log"
  grep -E '^\[train\]' "$OUT/$1.log" | tail -1
  rm -rf "$OUT/$1/model" "$OUT/$1/checkpoints"
}
# torch NAME MODEL RUN: PyTorch eager on RUN's batches, dynamic padding.
torch_on() {
  sampled "$1" python3 bench/reference.py --device "$DEVICE" --threads "$(nproc)" --data "$DATA" --model "$2" \
    --split "$OUT/$3/split.json" --batches "$OUT/$3/batches.json" --dynamic-padding --out "$OUT/$1.json" || return 1
  grep -E '^epoch' "$OUT/$1.log"
}

if part 1. CUDA kernels against their CPU twins; then
  timeout 180 "$WORK/yenjob-tests" --include-ignored cuda:: 2>&1 | grep -E '^test |test result' | tee "$OUT/kernel-tests.txt"
  # A kernel that differs from its twin (or a crash: no "ok" result) makes every later number
  # a wrong worker's: stop, and keep the device time for a rerun after the fix.
  if ! grep -q '^test result: ok' "$OUT/kernel-tests.txt" && [ "${KEEP_GOING:-0}" != 1 ]; then
    echo "== a CUDA kernel does not match its CPU twin (above): stopping; KEEP_GOING=1 runs the rest anyway"
    exit 1
  fi
fi

if part 2. bert-base size; then
  BERT=$WORK/bert-base
  python3 bench/make-bert-base.py --tokenizer "$MINI" --out "$BERT" > "$OUT/bert-base.log" 2>&1 || tail -5 "$OUT/bert-base.log"
  worker bert-f32 "$BERT" true f32
  torch_on bert-torch "$BERT" bert-f32
  budget "bert tf32" && worker bert-tf32 "$BERT" true tf32
fi

if part 3. MiniLM; then
  budget "minilm" && worker mini-f32 "$MINI" true f32 && torch_on mini-torch "$MINI" mini-f32
  budget "minilm tf32" && worker mini-tf32 "$MINI" true tf32
fi

part 4. parity on the GPU && for p in f32 tf32; do
  budget "parity $p" && python3 bench/parity.py --bin "$BIN" --model "$MINI" --data "$DATA" --out "$OUT/parity-$p" \
    --device "$DEVICE" --precision "$p" --threads "$(nproc)" 2>&1 | grep -vE 'Warning|Loading|Writing|MISSING|Notes|newly|^$|^-' | tail -14
  rm -rf "$OUT/parity-$p/init" "$OUT/parity-$p/worker/model" "$OUT/parity-$p/worker/checkpoints"
done

part 5. accuracy over seeds && for seed in 1 2 3 4; do
  for p in f32 tf32; do
    budget "seed $seed $p" && worker "seed$seed-$p" "$MINI" true "$p" "$seed" > /dev/null
  done
done

# A fine-tuned MiniLM for parts 6 and 7 (the timed runs above keep no model).
tuned() {
  [ -f "$WORK/tuned/model/config.json" ] && return 0
  write_spec "$WORK/tuned.toml" tuned true "$DATA" "$MINI" "$DEVICE"
  "$BIN" worker --spec "$WORK/tuned.toml" --run-dir "$WORK/tuned" > "$OUT/tuned.log" 2>&1 \
    || { echo "fine-tune for predict and score failed:"; tail -5 "$OUT/tuned.log"; return 1; }
}

if part 6. predict on the GPU && budget predict && tuned; then
  { TIMEFORMAT="predict: %R s wall"; time "$BIN" predict --model "$WORK/tuned/model" --file "$DATA" --json > "$OUT/predict.jsonl"; } 2> "$OUT/predict.time"
  cat "$OUT/predict.time"; wc -l < "$OUT/predict.jsonl"
fi

if part 7. score on the GPU && budget score && tuned; then
  python3 - "$DATA" "$WORK/news.csv" <<'PY'
import csv, random, sys
random.seed(7)
lines = [l.rsplit("@", 1)[0] for l in open(sys.argv[1], encoding="latin-1")]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["id", "text"])
    for i in range(100_000):
        w.writerow([i + 1, random.choice(lines)])
PY
  YENJOB_HOME=$WORK/home "$BIN" score --backend local --follow --model "$WORK/tuned/model" \
    --input "$WORK/news.csv" --output "$WORK/scored.csv" --text-column text > "$OUT/score.log" 2>&1
  grep -E '^\[(score|done)\]' "$OUT/score.log" | sed -n '1p;$p'
fi

part 8. stopped by SIGUSR1 and resumed && budget resume \
  && bash scripts/gpu-resume-check.sh "$BIN" "$MINI" "$DATA" 2>&1 | tee "$OUT/resume.txt"

echo "== summary"
python3 - "$OUT" <<'PY'
import json, os, sys, glob
out = sys.argv[1]
def util(name):
    try:
        rows = [l.split(",") for l in open(f"{out}/{name}.util") if l.strip()]
        u = [float(r[0]) for r in rows]
        busy = [i for i, x in enumerate(u) if x > 0]
        active = u[busy[0]:busy[-1] + 1] if busy else []
        return (sum(u) / len(u) if u else 0, sum(active) / len(active) if active else 0, max(float(r[1]) for r in rows))
    except Exception:
        return (float("nan"),) * 3
print("| run | training s | sentences/s | test acc | GPU util, whole process / while busy | peak MiB (nvidia-smi) |")
print("|---|---|---|---|---|---|")
for name in ["bert-f32", "bert-tf32", "bert-torch", "mini-f32", "mini-tf32", "mini-torch"]:
    if not os.path.exists(f"{out}/{name}.log"):
        continue  # a part not asked for, or skipped for the budget
    u = util(name)
    try:
        if name.endswith("torch"):
            r = json.load(open(f"{out}/{name}.json"))
            secs, rate, acc = r["train_seconds"], r["train_sentences_per_second"], r["after"]["accuracy"]
        else:
            s = json.load(open(f"{out}/{name}/summary.json"))
            secs, rate, acc = s["train_seconds"], s["train_sentences_per_second"], s["after"]["accuracy"]
        print(f"| {name} | {secs:.2f} | {rate:.0f} | {acc:.3f} | {u[0]:.0f}% / {u[1]:.0f}% | {u[2]:.0f} |")
    except Exception as e:
        print(f"| {name} | missing ({e.__class__.__name__}) |")
for p in ["f32", "tf32"]:
    try:
        r = json.load(open(f"{out}/parity-{p}/parity.json"))
        print(f"parity {p}: max |diff| {r['max_abs_diff']:.2e} over {r['steps']} steps: {'agree' if r['agree'] else 'DIFFER'}")
    except Exception:
        pass
for p in ["f32", "tf32"]:
    accs = []
    for seed in [1, 2, 3, 4]:
        try:
            accs.append(json.load(open(f"{out}/seed{seed}-{p}/summary.json"))["after"]["accuracy"])
        except Exception:
            pass
    if accs:
        print(f"seeds {p}: " + " ".join(f"{a:.3f}" for a in accs) + f", mean {sum(accs) / len(accs):.4f}")
PY
echo "elapsed $((SECONDS - START)) s"

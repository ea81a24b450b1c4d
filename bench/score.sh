#!/usr/bin/env bash
# score.sh MODEL [OUT] — scoring a corpus end to end (read, tokenize, infer, write) on this
# machine's CPU: `yenjob score` against PyTorch + transformers' text-classification pipeline
# (bench/score_reference.py), same fine-tuned model folder, same 10,000-row CSV of Financial
# PhraseBank sentences, batch 64, window 128. Then yenjob's peak memory at 10^4 and 10^6 rows,
# with a tiny random classifier (2 layers, hidden 32) so that 10^6 rows take minutes.
#
#   bench/score.sh runs/<a finbert run>/model      (needs the data; makes .venv-bench once)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$(realpath "${1:?a fine-tuned model folder, e.g. runs/<run>/model}")
OUT=$(realpath -m "${2:-.bench/score-$(date +%Y%m%d-%H%M%S)}")
mkdir -p "$OUT"
scripts/link-data.sh >/dev/null
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q torch transformers
fi
cargo build --release -q
Y="$PWD/target/release/yenjob"
export YENJOB_HOME="$OUT/home"

corpus() {   # corpus ROWS FILE: id,date,text rows drawn (seeded) from the PhraseBank's sentences
  python3 - "$1" "$2" <<'EOF'
import csv, random, sys
random.seed(7)
lines = [l.rsplit("@", 1)[0] for l in open("data/Sentences_AllAgree.txt", encoding="latin-1")]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["id", "date", "text"])
    for i in range(int(sys.argv[1])):
        w.writerow([i + 1, f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", random.choice(lines)])
EOF
}
corpus 10000 "$OUT/news-1e4.csv"

yscore() {   # yscore MODEL INPUT OUTPUT: prints the summary's numbers and the command's wall time
  local start end run
  start=$(date +%s.%N)
  "$Y" score --backend local --follow --overwrite --cpus "$(nproc)" --model "$1" --input "$2" \
    --output "$3" --text-column text > "$3.log" 2>&1
  end=$(date +%s.%N)
  run=$(sed -n 's/^  run folder: //p' "$3.log" | head -1)
  python3 - "$run/score-summary.json" "$(echo "$end - $start" | bc)" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"rows {s['written']}, command {float(sys.argv[2]):.1f} s, scoring {s['seconds']:.1f} s, "
      f"{s['records_per_second']:.0f} rows/s, peak memory {s['peak_rss_mib']} MiB, {s['device']}")
EOF
}

echo "== yenjob score, $(basename "$MODEL"), 10^4 rows"
yscore "$MODEL" "$OUT/news-1e4.csv" "$OUT/yenjob-1e4.csv" | tee "$OUT/yenjob-1e4.txt"
echo "== PyTorch + transformers pipeline, 10^4 rows"
/usr/bin/time -f "peak memory %M KiB, command %e s" .venv-bench/bin/python bench/score_reference.py \
  --model "$MODEL" --input "$OUT/news-1e4.csv" --text-column text --output "$OUT/torch-1e4.csv" \
  --threads "$(nproc)" 2>&1 | tee "$OUT/torch-1e4.txt"
echo "== labels that differ between the two outputs"
python3 - "$OUT/yenjob-1e4.csv" "$OUT/torch-1e4.csv" <<'EOF'
import csv, sys
a = list(csv.DictReader(open(sys.argv[1])))
b = list(csv.DictReader(open(sys.argv[2])))
diff = sum(x["label"] != y["label"] for x, y in zip(a, b))
worst = max(abs(float(x[k]) - float(y[k])) for x, y in zip(a, b) for k in ("negative", "neutral", "positive"))
print(f"{len(a)} and {len(b)} rows; {diff} labels differ; largest probability difference {worst:.2e}")
EOF

echo "== memory: a tiny random classifier at 10^4 and 10^6 rows"
TINY="$OUT/tiny"
.venv-bench/bin/python - "$TINY/base" models/all-MiniLM-L6-v2 <<'EOF'
import os, shutil, sys, torch
from transformers import BertConfig, BertModel
torch.manual_seed(0)
out, tok = sys.argv[1], sys.argv[2]
BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64)).save_pretrained(out)
for name in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
    if os.path.exists(os.path.join(tok, name)):
        shutil.copy(os.path.join(tok, name), out)
EOF
cat > "$TINY/fine-tune.toml" <<EOF
[job]
name = "tiny"
partition = "gpu"
time = "10:00"
[train]
data = "$PWD/data/Sentences_AllAgree.txt"
model = "$TINY/base"
epochs = 1
max_train_sentences = 200
EOF
"$Y" worker --spec "$TINY/fine-tune.toml" --run-dir "$TINY/run" > "$TINY/fine-tune.log"
corpus 1000000 "$OUT/news-1e6.csv"
for n in 1e4 1e6; do
  echo "-- $n rows"
  yscore "$TINY/run/model" "$OUT/news-$n.csv" "$OUT/tiny-$n.csv" | tee "$OUT/tiny-$n.txt"
done
rm -f "$OUT/news-1e6.csv" "$OUT/tiny-1e6.csv"

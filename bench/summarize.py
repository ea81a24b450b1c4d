"""Prints BENCHMARKS.md's table from a bench/run.sh output folder: wall time per epoch,
training and inference sentences/s, padded tokens, peak RSS, test accuracy and macro-F1
before/after, ratios to the references, and each run's distance from the FLOP floor."""
import json, re, sys
from pathlib import Path

from transformers import AutoTokenizer

out = Path(sys.argv[1])
# A CPU run has candle's measured matmul rate, for the FLOP floor; a GPU run (bench/gpu.sh) has
# the GPU's name instead.
rate = None
if (out / "matmul.txt").exists():
    rate = float(re.search(r"best: ([0-9.]+)", (out / "matmul.txt").read_text()).group(1)) * 1e9
cfg = json.load(open("models/all-MiniLM-L6-v2/config.json"))
H, I, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
tok = AutoTokenizer.from_pretrained("models/all-MiniLM-L6-v2")
raw = open("data/Sentences_AllAgree.txt", "rb").read().decode("latin-1").replace("\r\n", "\n").replace("\r", "\n")
texts = [l.rsplit("@", 1)[0].strip() for l in raw.split("\n") if l.strip()]
lengths = [len(x) for x in tok(texts, truncation=True, max_length=128)["input_ids"]]


def train_flops(batches, pad_to=None):
    """Training FLOPs (forward x 3) of the matrix products, per Kaplan et al.'s counting."""
    total = 0
    for epoch in batches:
        for b in epoch:
            B, T = len(b), pad_to or max(lengths[i] for i in b)
            fwd = 2 * B * T * L * (4 * H * H + 2 * H * I) + 4 * B * T * T * H * L + 2 * B * H * (H + 3)
            total += 3 * fwd
    return total


rows = []
for name in ["candle-bucketed", "candle-reference-batches"]:
    s = json.load(open(out / name / "summary.json"))
    batches = json.load(open(out / name / "batches.json"))
    epochs = s["hyperparameters"]["epochs"]
    rows.append(dict(name=f"yenjob worker (candle), {'length bucketing' if 'bucketed' in name else 'reference batches'}",
                     epoch=s["train_seconds"] / epochs, train=s["train_sentences_per_second"], infer=s["inference_sentences_per_second"],
                     tokens=s["padded_tokens_per_epoch"], rss=s["peak_rss_mib"], before=s["before"], after=s["after"],
                     flops=train_flops(batches), secs=s["train_seconds"]))
ref_batches = json.load(open(out / "candle-reference-batches" / "batches.json"))
for mode in ["padded", "dynamic"]:
    r = json.load(open(out / f"torch-{mode}.json"))
    rows.append(dict(name=f"PyTorch + transformers, {'padding to 128' if mode == 'padded' else 'dynamic padding'}",
                     epoch=sum(r["epoch_seconds"]) / len(r["epoch_seconds"]), train=r["train_sentences_per_second"],
                     infer=r["inference_sentences_per_second"], tokens=r["padded_tokens_per_epoch"], rss=r["peak_rss_mib"],
                     before=r["before"], after=r["after"], flops=train_flops(ref_batches, 128 if mode == "padded" else None),
                     secs=r["train_seconds"]))
padded = next(r for r in rows if "128" in r["name"])
dynamic = next(r for r in rows if "dynamic" in r["name"])
if rate:
    print(f"matmul rate (candle, f32, 2 threads): {rate / 1e9:.1f} GFLOP/s\n")
    floor_head, floor_rule = " training GFLOP | FLOP floor s | × floor |", "---|---|---|"
else:
    print(f"GPU: {(out / 'gpu.txt').read_text().strip()}\n")
    floor_head, floor_rule = " training GFLOP |", "---|"
print("| run | s/epoch | train sent/s | infer sent/s | padded tokens/epoch | peak RSS MiB | test acc before → after | macro-F1 before → after | time vs padded ref | time vs dynamic ref |" + floor_head)
print("|---|---|---|---|---|---|---|---|---|---|" + floor_rule)
for r in rows:
    line = (f"| {r['name']} | {r['epoch']:.1f} | {r['train']:.1f} | {r['infer']:.1f} | {r['tokens']} | {r['rss']} | "
            f"{r['before']['accuracy']:.3f} → {r['after']['accuracy']:.3f} | {r['before']['macro_f1']:.3f} → {r['after']['macro_f1']:.3f} | "
            f"{r['epoch'] / padded['epoch']:.2f} | {r['epoch'] / dynamic['epoch']:.2f} | {r['flops'] / 1e9:.0f} |")
    if rate:
        floor = r["flops"] / rate
        line += f" {floor:.0f} | {r['secs'] / floor:.1f} |"
    print(line)

"""The reference stack for BENCHMARKS.md: PyTorch + transformers fine-tuning the same BERT on
the same split with the same hyper-parameters as the yenjob worker (AdamW lr 2e-5, batch 16,
3 epochs, max length 128), the way the tutorial does it: padding every batch to 128, or with
--dynamic-padding, to the batch's longest sentence.

    python bench/reference.py --data data/Sentences_AllAgree.txt --model models/all-MiniLM-L6-v2 \
        --split RUN/split.json [--dynamic-padding] --out result.json
"""
import argparse, json, random, resource, time

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

LABELS = ["negative", "neutral", "positive"]


def read(path):
    raw = open(path, "rb").read().decode("latin-1")
    rows = []
    for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.strip():
            text, label = line.rsplit("@", 1)
            rows.append((text.strip(), LABELS.index(label.strip())))
    return rows


def macro_f1(truth, pred):
    f1s = []
    for c in range(3):
        tp = sum(1 for t, p in zip(truth, pred) if t == c and p == c)
        fp = sum(1 for t, p in zip(truth, pred) if t != c and p == c)
        fn = sum(1 for t, p in zip(truth, pred) if t == c and p != c)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return sum(f1s) / 3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--split", required=True, help="split.json written by yenjob worker")
    ap.add_argument("--dynamic-padding", action="store_true")
    ap.add_argument("--batches", help="batches.json written by yenjob worker: train on exactly those batches")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU side-by-side (bench/gpu.sh)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    rows = read(a.data)
    split = json.load(open(a.split))
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForSequenceClassification.from_pretrained(a.model, num_labels=3, dtype=torch.float32)
    device = torch.device(a.device)
    model.to(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()
    padding = "longest" if a.dynamic_padding else "max_length"

    def batches(idx, size):
        for i in range(0, len(idx), size):
            chunk = idx[i:i + size]
            enc = tok([rows[j][0] for j in chunk], padding=padding, truncation=True, max_length=128, return_tensors="pt")
            yield enc.to(device), torch.tensor([rows[j][1] for j in chunk]).to(device), chunk

    def evaluate(idx):
        model.eval()
        pred, start = [], time.perf_counter()
        with torch.no_grad():
            for enc, labels, _ in batches(idx, 64):
                pred += model(**enc).logits.argmax(-1).tolist()
        secs = time.perf_counter() - start
        truth = [rows[j][1] for j in idx]
        acc = sum(int(t == p) for t, p in zip(truth, pred)) / len(idx)
        return {"accuracy": acc, "macro_f1": macro_f1(truth, pred), "sentences_per_second": len(idx) / secs}

    before = evaluate(split["test"])
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5)
    epoch_seconds, padded_tokens, trained = [], 0, 0
    train_start = time.perf_counter()
    given = json.load(open(a.batches)) if a.batches else None
    for epoch in range(a.epochs):
        model.train()
        if given:
            epoch_batches = given[epoch]
        else:
            order = list(split["train"])
            random.Random(a.seed + epoch).shuffle(order)
            epoch_batches = [order[i:i + 16] for i in range(0, len(order), 16)]
        start = time.perf_counter()
        for chunk in epoch_batches:
            enc = tok([rows[j][0] for j in chunk], padding=padding, truncation=True, max_length=128, return_tensors="pt").to(device)
            labels = torch.tensor([rows[j][1] for j in chunk]).to(device)
            loss = model(**enc, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            padded_tokens += enc["input_ids"].numel()
            trained += len(chunk)
        sync()
        epoch_seconds.append(time.perf_counter() - start)
        print(f"epoch {epoch + 1}: {epoch_seconds[-1]:.1f} s", flush=True)
    train_seconds = time.perf_counter() - train_start
    after = evaluate(split["test"])
    result = {
        "stack": f"torch {torch.__version__}, padding {'dynamic' if a.dynamic_padding else '128'}",
        "before": before, "after": after, "epoch_seconds": epoch_seconds, "train_seconds": train_seconds,
        "train_sentences_per_second": trained / train_seconds,
        "inference_sentences_per_second": after["sentences_per_second"],
        "padded_tokens_per_epoch": padded_tokens // a.epochs,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "peak_gpu_memory_mib": torch.cuda.max_memory_allocated() // 2**20 if device.type == "cuda" else None,
    }
    json.dump(result, open(a.out, "w"), indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

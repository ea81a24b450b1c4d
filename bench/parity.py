"""The parity oracle: does the yenjob worker compute what PyTorch + transformers compute, step
by step? Both start from the same weights (the classifier head drawn once by transformers and
saved with the encoder, so the worker loads it instead of drawing its own), train with dropout
off on exactly the same batches (the worker's batches.json), with AdamW at the same settings
(lr 2e-5 constant, betas 0.9/0.999, eps 1e-8, weight decay 0.01 except on biases and
LayerNorm, no clipping). The per-step training losses must agree to --tolerance (1e-4) for the
first --steps (50) steps. Finer than test accuracy: a kernel or precision change that alters
the maths shows here at once.

    python bench/parity.py --bin target/release/yenjob --model models/all-MiniLM-L6-v2 \
        --data data/Sentences_AllAgree.txt --out .bench/parity [--device cuda] [--precision tf32]

Exit status 0 when the losses agree, 1 when they do not.
"""
import argparse, json, os, subprocess, sys, time

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the yenjob binary")
    ap.add_argument("--model", required=True, help="a BERT checkpoint folder (no classifier head)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="f32", choices=["f32", "tf32"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = a.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = a.precision == "tf32"

    # 1. One starting point for both: transformers draws the head, both load it.
    init = os.path.join(a.out, "init")
    torch.manual_seed(a.seed)
    model = AutoModelForSequenceClassification.from_pretrained(a.model, num_labels=3, dtype=torch.float32)
    model.save_pretrained(init)
    tok = AutoTokenizer.from_pretrained(a.model)
    tok.save_pretrained(init)

    # 2. The worker: dropout off, no bucketing, one progress line (one loss) per step.
    spec = os.path.join(a.out, "worker.toml")
    run = os.path.join(a.out, "worker")
    sentences = a.steps * 16
    with open(spec, "w") as f:
        f.write(f"""[job]
name = "parity"
partition = "gpu"
time = "1:00:00"
[train]
data = "{os.path.abspath(a.data)}"
model = "{os.path.abspath(init)}"
device = "{a.device}"
precision = "{a.precision}"
epochs = 1
batch_size = 16
learning_rate = 2e-5
max_length = 128
seed = {a.seed}
dropout = 0.0
length_bucketing = false
max_train_sentences = {sentences}
checkpoint_every = 0
log_every = 1
""")
    subprocess.run(["rm", "-rf", run], check=True)
    started = time.perf_counter()
    with open(os.path.join(a.out, "worker.log"), "w") as log:
        subprocess.run([a.bin, "worker", "--spec", spec, "--run-dir", run], stdout=log, stderr=subprocess.STDOUT, check=True)
    worker_seconds = time.perf_counter() - started
    worker_losses = {}
    for line in open(os.path.join(run, "metrics.jsonl")):
        e = json.loads(line)
        if e.get("event") == "step":
            worker_losses[e["step"]] = e["loss"]

    # 3. PyTorch on the worker's batches, same settings, dropout off.
    rows = read(a.data)
    batches = json.load(open(os.path.join(run, "batches.json")))[0][: a.steps]
    device = torch.device(a.device)
    model = AutoModelForSequenceClassification.from_pretrained(
        init, num_labels=3, dtype=torch.float32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    ).to(device)
    model.train()
    decay = [p for n, p in model.named_parameters() if not (n.endswith(".bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith(".bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=2e-5, betas=(0.9, 0.999), eps=1e-8,
    )
    torch_losses = []
    started = time.perf_counter()
    for chunk in batches:
        enc = tok([rows[j][0] for j in chunk], padding="longest", truncation=True, max_length=128, return_tensors="pt").to(device)
        labels = torch.tensor([rows[j][1] for j in chunk]).to(device)
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        torch_losses.append(loss.item())
    torch_seconds = time.perf_counter() - started

    # 4. Step by step.
    steps = min(len(torch_losses), len(worker_losses))
    diffs = [abs(worker_losses[s + 1] - torch_losses[s]) for s in range(steps)]
    worst = max(range(steps), key=lambda s: diffs[s]) if steps else 0
    print(f"device {a.device}, precision {a.precision}, {steps} steps")
    print("step  worker loss   torch loss    |diff|")
    for s in range(steps):
        if s < 5 or (s + 1) % 10 == 0 or s == worst:
            print(f"{s + 1:4d}  {worker_losses[s + 1]:.7f}  {torch_losses[s]:.7f}  {diffs[s]:.2e}")
    ok = steps == a.steps and max(diffs) <= a.tolerance
    result = {
        "device": a.device, "precision": a.precision, "steps": steps, "tolerance": a.tolerance,
        "max_abs_diff": max(diffs) if diffs else None, "worst_step": worst + 1, "agree": ok,
        "worker_losses": [worker_losses[s + 1] for s in range(steps)], "torch_losses": torch_losses[:steps],
        "worker_seconds_incl_startup": worker_seconds, "torch_train_seconds": torch_seconds,
    }
    json.dump(result, open(os.path.join(a.out, "parity.json"), "w"), indent=2)
    print(f"max |diff| {result['max_abs_diff']:.2e} at step {worst + 1}: {'AGREE' if ok else 'DIFFER'} (tolerance {a.tolerance:g})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

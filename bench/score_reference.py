"""The reference for `yenjob score`: the same CSV scored with PyTorch + transformers' text
classification pipeline, end to end (read, tokenize, infer, write), same model folder, batch
size and window as yenjob (64, 128 tokens), on the CPU. Writes the same CSV layout.

    python bench/score_reference.py --model RUN/model --input news.csv --text-column text --output out.csv
"""
import argparse, csv, json, time

t0 = time.time()
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--text-column", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    tokenizer = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForSequenceClassification.from_pretrained(a.model)
    clf = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu",
                   top_k=None, truncation=True, max_length=128)
    labels = ["negative", "neutral", "positive"]
    loaded = time.time()
    rows = 0
    with open(a.input, newline="") as fin, open(a.output, "w", newline="") as fout:
        reader = csv.reader(fin)
        writer = csv.writer(fout, lineterminator="\n")
        header = next(reader)
        col = header.index(a.text_column)
        writer.writerow(header + ["label", "negative", "neutral", "positive"])
        chunk = []

        def flush():
            nonlocal rows
            if not chunk:
                return
            scores = clf([r[col] for r in chunk], batch_size=a.batch_size)
            for r, s in zip(chunk, scores):
                p = {d["label"]: d["score"] for d in s}
                probs = [p[l] for l in labels]
                writer.writerow(r + [labels[probs.index(max(probs))]] + [f"{x:.6f}" for x in probs])
            rows += len(chunk)
            chunk.clear()

        for r in reader:
            chunk.append(r)
            if len(chunk) == 2048:
                flush()
        flush()
    end = time.time()
    print(json.dumps({"rows": rows, "seconds_total": end - t0, "seconds_scoring": end - loaded,
                      "rows_per_second": rows / (end - loaded), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()

"""A bert-base-sized encoder for speed work where bert-base itself cannot be downloaded: random
weights (seed 0) with transformers' BertConfig() defaults (12 layers, hidden 768, 12 heads,
intermediate 3072, vocabulary 30,522: 109.5M parameters with the head), saved with a tokenizer
whose vocabulary has the same size (all-MiniLM-L6-v2's). Accuracy means nothing with it; time
does.

    python bench/make-bert-base.py --tokenizer models/all-MiniLM-L6-v2 --out models/bert-base-random
"""
import argparse, shutil, os

import torch
from transformers import BertConfig, BertModel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.manual_seed(0)
    model = BertModel(BertConfig())
    model.save_pretrained(a.out)
    for name in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
        src = os.path.join(a.tokenizer, name)
        if os.path.exists(src):
            shutil.copy(src, a.out)
    print(f"{a.out}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters (encoder and pooler)")


if __name__ == "__main__":
    main()

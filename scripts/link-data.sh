#!/usr/bin/env bash
# link-data.sh — make data/Sentences_AllAgree.txt available. The Financial PhraseBank is not
# ours to redistribute: it is never committed. This links the copy beside the checkout
# (../shared/data) when there is one; elsewhere, put the file there yourself.
set -euo pipefail
cd "$(dirname "$0")/.."
want=data/Sentences_AllAgree.txt
[ -s "$want" ] && { echo "data in $want"; exit 0; }
for cand in ../shared/data/Sentences_AllAgree.txt "${YENJOB_DATA:-/nonexistent}"; do
  if [ -s "$cand" ]; then ln -sf "$(realpath "$cand")" "$want"; echo "linked $want -> $cand"; exit 0; fi
done
echo "no Sentences_AllAgree.txt found: download the Financial PhraseBank (FinancialPhraseBank-v1.0," >&2
echo "Sentences_AllAgree.txt) and put it at $want" >&2
exit 1

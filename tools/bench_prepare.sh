#!/usr/bin/env bash
# Times `cria prepare` against SentencePiece's C++ encoder (Debian python3-sentencepiece) on the
# same corpus and tokenizer, back to back in one run, and prints the ratio.
#
#   tools/bench_prepare.sh [CORPUS.jsonl.gz] [TOKENIZER.model] [WORKERS] [REPEATS]
#
# cria's figure is the whole pipeline (gunzip, JSON, tokenize, write .bin/.idx, JIT warm-up
# included); SentencePiece's is encoding alone, texts already in memory, best of REPEATS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
corpus="${1:-$root/../shared/data/brown/brown.jsonl.gz}"
tokenizer="${2:-$root/../shared/data/llama2/tokenizer.model}"
workers="${3:-2}"
repeats="${4:-3}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

best_cria=0
for _ in $(seq "$repeats"); do
  line="$("$root/cria" prepare --input "$corpus" --tokenizer "$tokenizer" --append-eod --workers "$workers" \
    --output-prefix "$out/bench" --overwrite 2>/dev/null | grep '^prepare:')"
  echo "cria:          $line"
  rate="$(sed -E 's/.* in ([0-9.]+) s.*/\1/' <<<"$line")"
  tokens="$(sed -E 's/^prepare: [0-9]+ documents, ([0-9]+) tokens.*/\1/' <<<"$line")"
  best_cria="$(awk -v t="$tokens" -v s="$rate" -v b="$best_cria" 'BEGIN { r = t / s; print (r > b ? r : b) }')"
done
spm="$(/usr/bin/python3 "$root/tools/bench_sentencepiece.py" --input "$corpus" --tokenizer "$tokenizer" \
  --workers "$workers" --repeat "$repeats" --json | tail -n 1)"
echo "sentencepiece: $spm"
spm_rate="$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tokens_per_sec"])' "$spm")"
awk -v c="$best_cria" -v s="$spm_rate" -v w="$workers" 'BEGIN {
  printf "best of each, %d worker(s): cria prepare %.0f tokens/s, SentencePiece encode %.0f tokens/s, ratio %.2fx\n", w, c, s, c / s }'

#!/usr/bin/env bash
# Makes the PyTorch loss curve that PyTorchCurveTest holds cria's training to: the bundled Brown
# corpus, tokenized with a 600-piece tokenizer that cria trains on it and prepared by cria (as the
# test's SmallCorpus does), a d=32 2-layer Llama from cria's seeded initial weights, trained for 40
# steps by tools/train_pytorch.py (an independent PyTorch Llama with Megatron-Core's sample order).
#
#   tools/make_training_fixture.sh [OUT_JSON]   (needs /usr/bin/python3 with python3-torch, numpy)
#
# The curve is committed; rerun this when cria's tokenizer trainer, initialization or these
# settings change on purpose, and say why in the commit.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/cria-cli/src/test/resources/fixtures/pytorch-curve-brown-d32.json}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# the same settings as PyTorchCurveTest.SETTINGS (and SmallCorpus for the model and data)
common=(--split 98,2,0 --seq-len 32 --micro-batch 2 --global-batch 8 --max-steps 40 --lr 1e-2
  --min-lr 1e-3 --warmup-steps 4 --weight-decay 0.1 --clip-grad 1.0 --seed 1234 --val-interval 20
  --val-batches 2 --threads 1)

"$root/cria" tokenizer train --input "$root/data/sample/brown.jsonl.gz" --vocab-size 600 \
  --output "$work/tok" >/dev/null
"$root/cria" prepare --input "$root/data/sample/brown.jsonl.gz" --tokenizer "$work/tok" \
  --append-eod --output-prefix "$work/brown" >/dev/null
"$root/cria" train --tokenizer "$work/tok" --data-prefix "$work/brown_text_document" \
  --hidden-size 32 --layers 2 --heads 2 --max-seq-len 32 "${common[@]}" \
  --run-dir "$work/run" --write-initial-weights "$work/initial.safetensors" >/dev/null
/usr/bin/python3 "$root/tools/train_pytorch.py" --data-prefix "$work/brown_text_document" \
  --init "$work/initial.safetensors" --heads 2 --kv-heads 2 "${common[@]}" --out "$work/curve.json"
/usr/bin/python3 - "$work/curve.json" "$out" "${common[*]}" <<'PY'
import json, subprocess, sys
curve = json.load(open(sys.argv[1]))
torch_version = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"],
                               capture_output=True, text=True).stdout.strip()
fixture = {
    "made_by": "tools/make_training_fixture.sh with PyTorch " + torch_version,
    "settings": sys.argv[3],
    "train": [{"step": s, "loss": l, "lr": lr, "grad_norm": n} for s, l, lr, n in curve["train"]],
    "valid": [{"step": s, "loss": l} for s, l in curve["valid"]],
}
with open(sys.argv[2], "w") as f:
    json.dump(fixture, f, indent=1)
    f.write("\n")
print("wrote", sys.argv[2])
PY

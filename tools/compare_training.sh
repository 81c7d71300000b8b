#!/usr/bin/env bash
# Trains the same model with cria and with an independent PyTorch script (tools/train_pytorch.py)
# from the same initial weights, sample order and hyperparameters, and prints both curves.
#
#   [SEED=1234] [SEQ_LEN=256] [PRECISION=32|bf16-mixed] tools/compare_training.sh PREFIX TOKENIZER [OUT_DIR] [MAX_STEPS]
#
# PREFIX is a dataset made by `cria prepare` with TOKENIZER (e.g. Brown with the Llama-2 tokenizer).
# Needs /usr/bin/python3 with python3-torch and python3-numpy. Both runs use 2 threads.
# REUSE_PYTORCH=1 keeps OUT_DIR/pytorch.json from an earlier run when the initial weights are the
# same file (checked by SHA-256), to re-check a new cria build without the slow PyTorch run.
# PRECISION=bf16-mixed trains cria in bf16-mixed and PyTorch under bf16 autocast.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$1"
tokenizer="$2"
out="${3:-/tmp/cria-compare}"
steps="${4:-300}"
common=(--split 980,10,10 --seq-len "${SEQ_LEN:-256}" --micro-batch 4 --global-batch 8 --max-steps "$steps" --lr 1e-3
  --min-lr 1e-4 --warmup-steps 30 --weight-decay 0.1 --clip-grad 1.0 --seed "${SEED:-1234}" --val-interval 50
  --val-batches 4 --threads 2)
precision="${PRECISION:-32}"
torch_precision=32
[[ "$precision" == 32 ]] || torch_precision=bf16
mkdir -p "$out"
"$root/cria" train --preset tiny --tokenizer "$tokenizer" --data-prefix "$prefix" "${common[@]}" \
  --precision "$precision" --log-interval 10 --run-dir "$out/cria-run" --overwrite --write-initial-weights "$out/initial.safetensors" \
  | tee "$out/cria.txt"
init_sum="$(sha256sum "$out/initial.safetensors" | cut -d' ' -f1)"
if [[ "${REUSE_PYTORCH:-0}" == 1 && -f "$out/pytorch.json" && "$(cat "$out/pytorch.init.sha256" 2>/dev/null)" == "$init_sum" ]]; then
  echo "reusing $out/pytorch.json (same initial weights, SHA-256 $init_sum)"
else
  /usr/bin/python3 "$root/tools/train_pytorch.py" --data-prefix "$prefix" --init "$out/initial.safetensors" \
    --heads 6 --kv-heads 6 "${common[@]}" --precision "$torch_precision" --check-index-cache "$out/cria-run/index_cache" --out "$out/pytorch.json" \
    | tee "$out/pytorch.txt"
  echo "$init_sum" > "$out/pytorch.init.sha256"
fi
/usr/bin/python3 - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
torch_curve = json.load(open(f"{out}/pytorch.json"))
cria_train, cria_valid = {}, {}
for line in open(f"{out}/cria-run/0/log"):
    m = re.search(r"step (\d+)/\d+ reduced_train_loss ([\d.]+)", line)
    if m:
        cria_train[int(m.group(1))] = float(m.group(2))
    m = re.search(r"validation step (\d+) val_loss ([\d.]+)", line)
    if m:
        cria_valid[int(m.group(1))] = float(m.group(2))
print("step   cria train  torch train   diff")
for step, loss, lr, norm in torch_curve["train"]:
    if step == 1 or step % 25 == 0:
        print(f"{step:4d}   {cria_train[step]:9.4f}   {loss:9.4f}   {cria_train[step] - loss:+.4f}")
print("step   cria val    torch val     diff")
for step, loss in torch_curve["valid"]:
    print(f"{step:4d}   {cria_valid[step]:9.4f}   {loss:9.4f}   {cria_valid[step] - loss:+.4f}")
last = torch_curve["valid"][-1]
diff = abs(cria_valid[last[0]] - last[1])
print(f"final validation loss: cria {cria_valid[last[0]]:.4f}, PyTorch {last[1]:.4f}, |diff| {diff:.4f}"
      f" ({'within' if diff <= 0.02 else 'NOT within'} 0.02)")
PY

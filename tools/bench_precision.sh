#!/usr/bin/env bash
# cria's training step in fp32 and bf16-mixed against PyTorch in fp32 and under bf16 autocast (the
# same model, micro-batch, sequence and threads), alternating, ROUNDS rounds in one run, so that
# the figures share the machine's state. Prints one line per measurement and the ratios per round.
#
#   tools/bench_precision.sh [PRESET] [ROUNDS] [STEPS] [WARMUP]      (default: small 2 3 1)
#
# WARMUP steps run untimed first in every process (cria's JIT compiles its rarely called kernels,
# the gradient clipping's among them, within the first few steps: 3 or more measure the steady
# state, which a long run trains at).
#
# PyTorch is Debian's python3-torch with OpenBLAS for fp32 (its AVX-512 kernels: OPENBLAS_CORETYPE
# unset) and oneDNN for bf16 (autocast's linear layers). It needs Debian's libopenblas0-pthread:
# without it PyTorch's fp32 runs on the reference BLAS (libblas3), some 15 tokens/s on small.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
preset="${1:-small}"
rounds="${2:-2}"
steps="${3:-3}"
warmup="${4:-1}"
lscpu | grep -E '^Model name' || true
grep -o -w -E 'amx_bf16|avx512_bf16|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
for round in $(seq 1 "$rounds"); do
  cria32="$("$root/cria" bench --preset "$preset" --steps "$steps" --warmup "$warmup" --precision 32 --json 2>/dev/null | tail -n 1)"
  criabf="$("$root/cria" bench --preset "$preset" --steps "$steps" --warmup "$warmup" --precision bf16-mixed --json 2>/dev/null | tail -n 1)"
  torch32="$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$root/tools/bench_pytorch.py" \
    --preset "$preset" --steps "$steps" --warmup "$warmup" --precision 32 --json 2>/dev/null | tail -n 1)"
  torchbf="$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$root/tools/bench_pytorch.py" \
    --preset "$preset" --steps "$steps" --warmup "$warmup" --precision bf16 --json 2>/dev/null | tail -n 1)"
  /usr/bin/python3 - "$round" "$cria32" "$criabf" "$torch32" "$torchbf" <<'PY'
import json, sys
r = sys.argv[1]
c32, cbf, t32, tbf = (json.loads(x)["tokens_per_sec"] for x in sys.argv[2:6])
print(f"round {r}: cria fp32 {c32:.0f}, cria bf16-mixed {cbf:.0f}, PyTorch fp32 {t32:.0f}, "
      f"PyTorch bf16 autocast {tbf:.0f} tokens/s; cria bf16 / cria fp32 {cbf / c32:.2f}x, "
      f"cria bf16 / PyTorch bf16 {cbf / tbf:.2f}x, cria fp32 / PyTorch fp32 {c32 / t32:.2f}x")
PY
done

#!/usr/bin/env bash
# Times cria's training step against PyTorch (Debian python3-torch, OpenBLAS) on the same preset,
# micro-batch, sequence length and threads, back to back in one run, and prints the ratio.
#
#   tools/bench_engine.sh [PRESET] [THREADS] [STEPS]      (default: tiny 2 5)
#
# PyTorch runs twice: as this environment configures OpenBLAS (OPENBLAS_CORETYPE may pin it to
# AVX2 kernels) and with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset (its AVX-512 kernels); the ratio
# is taken against the faster of the two.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
preset="${1:-tiny}"
threads="${2:-2}"
steps="${3:-5}"

cria_json="$("$root/cria" bench --preset "$preset" --threads "$threads" --steps "$steps" --warmup 2 --json 2>/dev/null | tail -n 1)"
echo "cria:                   $cria_json"
torch_env="$(/usr/bin/python3 "$root/tools/bench_pytorch.py" --preset "$preset" --threads "$threads" --steps "$steps" \
  --warmup 2 --json 2>/dev/null | tail -n 1)"
echo "pytorch (env as set):   $torch_env"
torch_unset="$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$root/tools/bench_pytorch.py" \
  --preset "$preset" --threads "$threads" --steps "$steps" --warmup 2 --json 2>/dev/null | tail -n 1)"
echo "pytorch (AVX-512 BLAS): $torch_unset"
/usr/bin/python3 - "$cria_json" "$torch_env" "$torch_unset" <<'PY'
import json, sys
cria, a, b = (json.loads(x) for x in sys.argv[1:4])
best = max(a["tokens_per_sec"], b["tokens_per_sec"])
print(f"{cria['preset']}, {cria['threads']} threads: cria {cria['tokens_per_sec']:.0f} tokens/s "
      f"(MFU {100 * cria['mfu']:.1f}% of {cria['peak_gflops']:.0f} GFLOP/s), PyTorch best {best:.0f} tokens/s, "
      f"ratio {cria['tokens_per_sec'] / best:.2f}x")
PY

#!/usr/bin/python3
"""Throughput baseline: full Llama training steps in plain PyTorch on the CPU, to compare with cria.

Usage (from the repository root, Debian's interpreter):

  /usr/bin/python3 tools/bench_pytorch.py --preset tiny|small [--threads 2]
      [--micro-batch B] [--seq-len T] [--steps N] [--warmup W] [--precision 32|bf16] [--json]

Presets (tools/llama_reference.py model, fp32):
  tiny : D 288, L 6, H 6, KVH 6, F 768, V 32000; default B 8, T 256
  small: D 512, L 8, H 8, KVH 8, F 1376, V 32000; default B 4, T 512

--precision bf16 runs the forward and the loss under torch.autocast("cpu",
dtype=torch.bfloat16) (PyTorch's bf16 mixed precision: fp32 weights, linear
layers in bf16 through oneDNN, which picks AMX or AVX512_BF16); the backward
follows autocast's casts. Default 32: everything fp32.

A step is: forward + loss ("forward"), loss.backward() ("backward"), then
clip_grad_norm_(1.0) + lr from the schedule + AdamW step + zero_grad(set_to_none)
("optimizer"); each phase is timed with time.perf_counter(). W warmup steps
(default 2) are run untimed, then N steps (default 5) are timed; reported
times are means over the N timed steps. Tokens are random (seed 0), targets
random too (no ignored positions).

tokens/s = B*T / mean step time.
GFLOP/s  = flops_per_token * B*T / mean step time / 1e9, with
  flops_per_token = 6 * N_matmul + 6 * L * T * D
  N_matmul = parameters of all linear weights (q/k/v/o, gate/up/down, lm_head);
  embeddings and norm weights excluded. 6*L*T*D is the causal attention term
  (fwd+bwd of QK^T and PV, 12*L*T*D halved for causality).

The thread count is applied with torch.set_num_threads(threads) and, before
torch is imported, OMP_NUM_THREADS / OPENBLAS_NUM_THREADS are set to it when not
already set (Debian's torch calls OpenBLAS, which has its own thread pool).

With --json the last line printed is one JSON object:
  {"tool":"pytorch","torch":...,"blas":...,"openblas_coretype":...,"preset":...,
   "threads":...,"micro_batch":...,"seq_len":...,"tokens_per_sec":...,"step_ms":...,
   "forward_ms":...,"backward_ms":...,"optimizer_ms":...,"gflops":...}
"""

import argparse
import json
import os
import sys
import time

PRESETS = {
    "tiny": dict(dim=288, n_layers=6, n_heads=6, n_kv_heads=6, ffn_dim=768, vocab_size=32000, B=8, T=256),
    "small": dict(dim=512, n_layers=8, n_heads=8, n_kv_heads=8, ffn_dim=1376, vocab_size=32000, B=4, T=512),
}


def blas_info(torch):
    import re
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    info = m.group(1) if m else "unknown"
    # Which shared BLAS library the process actually mapped.
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                base = os.path.basename(p)
                if "blas" in base or "mkl" in base.lower():
                    libs.add(os.path.realpath(p))
    except OSError:
        pass
    core = None
    for lib in libs:
        if "openblas" in os.path.basename(lib):
            try:
                import ctypes
                fn = ctypes.CDLL(lib).openblas_get_corename
                fn.restype = ctypes.c_char_p
                core = fn().decode()
            except (OSError, AttributeError):
                pass
    if core:
        info += " (OpenBLAS core %s)" % core
    return info, sorted(libs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--micro-batch", type=int)
    ap.add_argument("--seq-len", type=int)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--precision", choices=["32", "bf16"], default="32")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import llama_reference as ref

    torch.set_num_threads(args.threads)
    p = dict(PRESETS[args.preset])
    B = args.micro_batch or p.pop("B")
    T = args.seq_len or p.pop("T")
    p.pop("B", None)
    p.pop("T", None)
    cfg = ref.make_config(**p)
    model = ref.build_model(cfg, seed=1234)
    model.train()
    n_matmul = ref.matmul_param_count(model)
    n_params = sum(x.numel() for x in model.parameters())
    L, D = cfg["n_layers"], cfg["dim"]
    flops_per_token = 6 * n_matmul + 6 * L * T * D

    g = torch.Generator()
    g.manual_seed(0)
    tokens = torch.randint(0, cfg["vocab_size"], (B, T), generator=g)
    targets = torch.randint(0, cfg["vocab_size"], (B, T), generator=g)
    opt = ref.make_optimizer(model, lr=3e-4)

    blas, libs = blas_info(torch)
    print("torch %s, BLAS_INFO=%s, BLAS libs mapped: %s" % (torch.__version__, blas, libs or "?"))
    print("OPENBLAS_CORETYPE=%s threads=%d (torch.get_num_threads()=%d)"
          % (os.environ.get("OPENBLAS_CORETYPE", "<unset>"), args.threads, torch.get_num_threads()))
    print("preset %s: params %d (matmul %d), B=%d T=%d, flops/token %.4g"
          % (args.preset, n_params, n_matmul, B, T, flops_per_token))

    fw, bw, op, tot = [], [], [], []
    total_steps = args.warmup + args.steps
    for s in range(total_steps):
        t0 = time.perf_counter()
        if args.precision == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = ref.loss_fn(model(tokens), targets)
        else:
            loss = ref.loss_fn(model(tokens), targets)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        ref.clip_grads(model, 1.0)
        ref.set_lr(opt, ref.lr_at(s, 3e-4, 3e-5, 2, 1000))
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        tag = "warmup" if s < args.warmup else "step"
        print("%s %d: loss %.4f  fwd %.1f ms  bwd %.1f ms  opt %.1f ms  total %.1f ms"
              % (tag, s, loss.item(), (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (t3 - t0) * 1e3),
              flush=True)
        if s >= args.warmup:
            fw.append(t1 - t0)
            bw.append(t2 - t1)
            op.append(t3 - t2)
            tot.append(t3 - t0)

    mean = lambda xs: sum(xs) / len(xs)
    step_s = mean(tot)
    tps = B * T / step_s
    gflops = flops_per_token * B * T / step_s / 1e9
    print("tokens/s %.1f  step %.1f ms  (forward %.1f, backward %.1f, optimizer %.1f ms)  %.2f GFLOP/s"
          % (tps, step_s * 1e3, mean(fw) * 1e3, mean(bw) * 1e3, mean(op) * 1e3, gflops))
    if args.json:
        print(json.dumps({
            "tool": "pytorch", "torch": torch.__version__, "blas": blas,
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
            "preset": args.preset, "precision": args.precision,
            "threads": args.threads, "micro_batch": B, "seq_len": T,
            "tokens_per_sec": round(tps, 2), "step_ms": round(step_s * 1e3, 2),
            "forward_ms": round(mean(fw) * 1e3, 2), "backward_ms": round(mean(bw) * 1e3, 2),
            "optimizer_ms": round(mean(op) * 1e3, 2), "gflops": round(gflops, 3),
        }))


if __name__ == "__main__":
    main()

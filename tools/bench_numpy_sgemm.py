#!/usr/bin/python3
"""OpenBLAS sgemm on this machine, for comparison with cria's Gemm (cria-bench GemmBenchmark).

Times the three products of a linear layer (and the LM head) in float32 with 1 and 2 OpenBLAS
threads, two ways:

  matmul  np.matmul(X, W.T, out=Y) etc.: what a numpy user gets (beta = 0 always);
  sgemm   cblas_sgemm called directly through ctypes on the very library numpy loaded, with the
          same trans flags, alpha and beta as cria's calls (beta = 1 for the two gradients).

OPENBLAS_NUM_THREADS only works if set before numpy is imported, so each thread count runs in a
child process. By default the children run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from
their environment, so OpenBLAS picks its kernel for the real CPU; --keep-env leaves them as they
are. The parent reports their values and the kernel (core name) each child ended up with.

Usage: /usr/bin/python3 tools/bench_numpy_sgemm.py [--threads 1,2] [--seconds 2] [--keep-env]
"""

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time

T, IN, OUT, VOCAB = 2048, 512, 512, 32000

# name: (transA, transB, m, n, k, beta) in cria's row-major convention
SHAPES = {
    "forward": (False, True, T, OUT, IN, 0.0),  # Y[T,out] = X[T,in] W[out,in]^T
    "inputGrad": (False, False, T, IN, OUT, 1.0),  # dX[T,in] += dY[T,out] W[out,in]
    "weightGrad": (True, False, OUT, IN, T, 1.0),  # dW[out,in] += dY[T,out]^T X[T,in]
    "lmHead": (False, True, T, VOCAB, IN, 0.0),  # logits[T,V] = X[T,in] E[V,in]^T
}


def child(seconds):
    import numpy as np

    lib = None
    paths = {line.split()[-1] for line in open("/proc/self/maps") if "blas" in line}
    # the OpenBLAS library itself first (libblas.so.3 / liblapack.so.3 are its thin wrappers)
    for path in sorted(paths, key=lambda p: ("openblas" not in p.rsplit("/", 1)[-1], p)):
        try:
            cand = ctypes.CDLL(path)
            cand.openblas_get_corename
            lib = cand
            break
        except (OSError, AttributeError):
            continue
    info = {}
    try:
        from threadpoolctl import threadpool_info

        info["threadpoolctl"] = threadpool_info()
    except ImportError:
        pass
    if lib is None:
        np.show_config()
        raise SystemExit("numpy is not using OpenBLAS (no openblas_get_corename in its BLAS)")
    lib.openblas_get_corename.restype = ctypes.c_char_p
    lib.openblas_get_config.restype = ctypes.c_char_p
    info["corename"] = lib.openblas_get_corename().decode()
    info["config"] = lib.openblas_get_config().decode()
    info["threads"] = lib.openblas_get_num_threads()
    info["library"] = lib._name

    sgemm = lib.cblas_sgemm
    fp = ctypes.POINTER(ctypes.c_float)
    sgemm.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_float, fp, ctypes.c_int, fp, ctypes.c_int,
                      ctypes.c_float, fp, ctypes.c_int]
    row_major, no_trans, trans = 101, 111, 112

    rng = np.random.default_rng(1)
    results = {}
    for name, (ta, tb, m, n, k, beta) in SHAPES.items():
        a = rng.uniform(-1, 1, (k, m) if ta else (m, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(np.float32)
        c = np.zeros((m, n), np.float32)
        opa = a.T if ta else a
        opb = b.T if tb else b
        pa, pb, pc = (x.ctypes.data_as(fp) for x in (a, b, c))

        def run_matmul():
            np.matmul(opa, opb, out=c)

        def run_sgemm():
            sgemm(row_major, trans if ta else no_trans, trans if tb else no_trans, m, n, k, 1.0,
                  pa, a.shape[1], pb, b.shape[1], beta, pc, c.shape[1])

        flops = 2.0 * m * n * k
        for label, fn in (("matmul", run_matmul), ("sgemm", run_sgemm)):
            for _ in range(3):
                fn()
            best = float("inf")
            reps, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds or reps < 5:
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
                reps += 1
            mean = (time.perf_counter() - start) / reps
            results[f"{name}/{label}"] = {"gflops_mean": flops / mean / 1e9,
                                          "gflops_best": flops / best / 1e9, "reps": reps}
        c[:] = 0
    info["results"] = results
    print(json.dumps(info))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seconds", type=float, default=2.0, help="timing per shape and method")
    ap.add_argument("--keep-env", action="store_true",
                    help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the children's environment")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.seconds)
        return
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        print(f"{var} in this environment: {os.environ.get(var, '(unset)')}"
              + ("" if args.keep_env else "  -> removed for the benchmark"))
    print(f"shapes: T={T} in={IN} out={OUT} vocab={VOCAB}; GFLOP/s = 2mnk / time "
          f"(mean over ~{args.seconds:g} s, best in brackets)")
    for threads in [int(x) for x in args.threads.split(",")]:
        env = dict(os.environ)
        env["OPENBLAS_NUM_THREADS"] = str(threads)
        env["OMP_NUM_THREADS"] = str(threads)
        if not args.keep_env:
            env.pop("OPENBLAS_CORETYPE", None)
            env.pop("OPENBLAS_L2_SIZE", None)
        out = subprocess.run([sys.executable, __file__, "--child", "--seconds", str(args.seconds)],
                             env=env, check=True, capture_output=True, text=True).stdout
        info = json.loads(out.strip().splitlines()[-1])
        print(f"\nOPENBLAS_NUM_THREADS={threads}: {info['config']} (core {info['corename']}, "
              f"{info['threads']} threads, {info['library']})")
        for key, r in info["results"].items():
            print(f"  {key:20s} {r['gflops_mean']:7.1f} GFLOP/s  [{r['gflops_best']:6.1f}]  "
                  f"({r['reps']} runs)")


if __name__ == "__main__":
    main()

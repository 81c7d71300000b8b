#!/usr/bin/python3
"""Throughput baseline: SentencePiece C++ encoding speed, to compare with cria's tokenizer.

Loads every document text of a JSONL(.gz) file into memory first (not timed),
then times encoding all of them to ids with the SentencePiece C++ library
through its Python binding (no BOS/EOS, as ``cria prepare`` does). With
``--workers N`` the texts are split into N contiguous shares of about equal
character count, and N processes encode one share each; the time measured is
the wall clock of the whole parallel encode, from a barrier that all workers
(already forked, model already loaded) and the parent pass together, to the
moment the parent has received the last worker's result. Process start-up and
model loading are therefore not timed. The run is repeated R times (same
processes) and the best repetition is reported.

Each worker is pinned to one encoding thread (``num_threads=1`` in the batch
call), so ``--workers N`` really means N threads of SentencePiece.

Usage:

  /usr/bin/python3 tools/bench_sentencepiece.py --input FILE.jsonl[.gz] \\
      --tokenizer tokenizer.model [--workers N] [--repeat R] [--json]

With --json it prints one JSON line:
  {"tool":"sentencepiece","version":...,"workers":N,"tokens":...,"seconds":...,
   "tokens_per_sec":..., ...}
"""

import argparse
import gzip
import inspect
import json
import multiprocessing as mp
import os
import sys
import time

try:
    import sentencepiece as spm
except ImportError as e:  # pragma: no cover
    print("bench_sentencepiece: the sentencepiece module is not importable (%s); "
          "on Debian: apt-get install python3-sentencepiece and run with /usr/bin/python3" % e,
          file=sys.stderr)
    sys.exit(3)

TIMEOUT_S = 3600

# Filled in the parent before forking so that workers inherit the texts without pickling.
_TEXTS = []


def load_texts(path, key):
    opener = gzip.open if path.endswith(".gz") else open
    texts = []
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            text = obj[key]
            if not isinstance(text, str):
                raise SystemExit("%s:%d: %r is not a string" % (path, lineno, key))
            texts.append(text)
    return texts


def split_by_chars(texts, n):
    """Contiguous [start, end) ranges, n of them, with about equal character counts."""
    total = sum(len(t) for t in texts)
    bounds = [0]
    acc = 0
    for i, t in enumerate(texts):
        acc += len(t)
        # close share k when we pass k/n of the characters
        while len(bounds) < n and acc >= total * len(bounds) / n:
            bounds.append(i + 1)
    while len(bounds) < n:
        bounds.append(len(texts))
    bounds.append(len(texts))
    return [(bounds[k], bounds[k + 1]) for k in range(n)]


def batch_supports_num_threads():
    try:
        return "num_threads" in inspect.signature(spm.SentencePieceProcessor.Encode).parameters
    except (TypeError, ValueError):
        return False


def make_encoder(sp, method):
    """Return f(list_of_texts) -> number of tokens.

    "batch": sp.encode(list, num_threads=1): one binding call for the whole share, the
             loop over documents runs in C++ (pinned to one thread).
    "loop":  a Python loop of sp.encode(text): one binding call per document.
    On the Brown corpus (500 documents of ~12 k characters each) the two measured
    within noise of each other (the per-call overhead is tiny next to ~3 k tokens of
    work per document); "batch" is the default because it keeps Python out of the
    timed loop, which matters more for short documents.
    """
    if method == "batch":
        if batch_supports_num_threads():
            return lambda texts: sum(len(ids) for ids in sp.encode(texts, num_threads=1))
        # Old binding without num_threads: its list form may be a plain Python loop
        # or multi-threaded, neither is what we want; fall back to the explicit loop.
        method = "loop"
    if method == "loop":
        def encode_loop(texts):
            n = 0
            enc = sp.encode
            for t in texts:
                n += len(enc(t))
            return n
        return encode_loop
    raise ValueError(method)


def worker(wid, model, method, start, end, repeat, barrier, results):
    try:
        sp = spm.SentencePieceProcessor(model_file=model)
        encode = make_encoder(sp, method)
        share = _TEXTS[start:end]
        for rep in range(repeat):
            barrier.wait(TIMEOUT_S)
            t0 = time.perf_counter()
            tokens = encode(share)
            t1 = time.perf_counter()
            results.put((wid, rep, tokens, t1 - t0, None))
    except BaseException as e:  # report instead of hanging the parent
        try:
            barrier.abort()
        finally:
            results.put((wid, -1, 0, 0.0, "%s: %s" % (type(e).__name__, e)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, help="JSONL or JSONL.gz file")
    p.add_argument("--tokenizer", required=True, help="SentencePiece tokenizer.model")
    p.add_argument("--json-key", default="text", help="key holding the text (default: text)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--repeat", type=int, default=3, help="repetitions, best is reported (default 3)")
    p.add_argument("--method", choices=("batch", "loop"), default="batch",
                   help="batch: sp.encode(list, num_threads=1) per worker (default); "
                        "loop: sp.encode(text) per document")
    p.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = p.parse_args(argv)
    if args.workers < 1 or args.repeat < 1:
        p.error("--workers and --repeat must be >= 1")

    global _TEXTS
    _TEXTS = load_texts(args.input, args.json_key)
    docs = len(_TEXTS)
    chars = sum(len(t) for t in _TEXTS)
    shares = split_by_chars(_TEXTS, args.workers)
    method = args.method if args.method == "loop" or batch_supports_num_threads() else "loop"

    ctx = mp.get_context("fork")  # workers inherit _TEXTS; Linux only
    barrier = ctx.Barrier(args.workers + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=worker,
                         args=(w, args.tokenizer, method, s, e, args.repeat, barrier, results),
                         daemon=True)
             for w, (s, e) in enumerate(shares)]
    for pr in procs:
        pr.start()

    walls = []
    tokens_per_rep = []
    worker_secs = []
    try:
        for rep in range(args.repeat):
            barrier.wait(TIMEOUT_S)  # all workers have loaded the model
            t0 = time.perf_counter()
            got = []
            while len(got) < args.workers:
                r = results.get(timeout=TIMEOUT_S)
                if r[4] is not None:
                    raise RuntimeError("worker %d failed: %s" % (r[0], r[4]))
                got.append(r)
            t1 = time.perf_counter()
            walls.append(t1 - t0)
            tokens_per_rep.append(sum(r[2] for r in got))
            worker_secs.append(sorted(r[3] for r in got))
    except Exception as e:
        msg = "%s: %s" % (type(e).__name__, e)
        try:  # a worker's own error explains a broken barrier better
            while True:
                r = results.get(timeout=1)
                if r[4] is not None:
                    msg = "worker %d failed: %s" % (r[0], r[4])
                    break
        except Exception:
            pass
        print("bench_sentencepiece: %s" % msg, file=sys.stderr)
        for pr in procs:
            pr.terminate()
        return 2
    for pr in procs:
        pr.join()
    if len(set(tokens_per_rep)) != 1:
        print("bench_sentencepiece: token counts differ between repetitions: %s" % tokens_per_rep,
              file=sys.stderr)
        return 2

    best = min(range(args.repeat), key=lambda i: walls[i])
    tokens = tokens_per_rep[0]
    seconds = walls[best]
    tps = tokens / seconds
    version = getattr(spm, "__version__", None)
    if args.json:
        print(json.dumps({
            "tool": "sentencepiece",
            "version": version,
            "method": method,
            "workers": args.workers,
            "documents": docs,
            "chars": chars,
            "tokens": tokens,
            "seconds": round(seconds, 6),
            "tokens_per_sec": round(tps, 1),
            "tokens_per_sec_per_worker": round(tps / args.workers, 1),
            "all_seconds": [round(w, 6) for w in walls],
            "cpus": os.cpu_count(),
        }, separators=(",", ":")))
    else:
        print("sentencepiece %s (%s, num_threads=1 per worker), %s" % (version, method, args.input))
        print("  documents %d, chars %d, tokens %d (%.3f chars/token)"
              % (docs, chars, tokens, chars / tokens if tokens else 0.0))
        print("  workers %d (of %s cpus), repeat %d: wall seconds %s"
              % (args.workers, os.cpu_count(), args.repeat, ", ".join("%.3f" % w for w in walls)))
        print("  best %.3f s: %.0f tokens/s, %.0f tokens/s per worker, %.2f MB/s of text"
              % (seconds, tps, tps / args.workers,
                 sum(len(t.encode("utf-8")) for t in _TEXTS) / seconds / 1e6))
        print("  per-worker encode seconds in the best run: %s"
              % ", ".join("%.3f" % s for s in worker_secs[best]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

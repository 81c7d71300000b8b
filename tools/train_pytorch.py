#!/usr/bin/python3
"""Independent PyTorch run of the training that `cria train` does, to compare loss curves.

Usage (repository root, Debian's interpreter with python3-torch and python3-numpy):

  /usr/bin/python3 tools/train_pytorch.py --data-prefix PREFIX --init INIT.safetensors \
      --heads 6 --kv-heads 6 --split 980,10,10 --seq-len 256 --micro-batch 8 \
      --global-batch 8 --max-steps 300 --lr 1e-3 --min-lr 1e-4 --warmup-steps 30 \
      --seed 1234 --val-interval 50 --val-batches 4 --threads 2 \
      [--precision 32|bf16] [--check-index-cache RUN/index_cache] [--out curve.json]
  /usr/bin/python3 tools/train_pytorch.py --self-test ../shared/data/vectors

Nothing here comes from cria except the initial weights (INIT, written by
`cria train --write-initial-weights`), so that both runs start from the same point:
  * the Megatron indexed dataset (.bin/.idx, MMIDIDX v1) is parsed with numpy;
  * the sample order is Megatron-Core's GPTDataset (split book-ends rounded half to
    even, epochs, separate final epoch, document/sample/shuffle indices with
    numpy.random.RandomState(seed)), written out again here from Megatron's
    algorithm; --self-test checks it against ../shared's gpt_index_vectors.json,
    and --check-index-cache checks that cria's cached .npy indices are identical;
  * the model is tools/llama_reference.py (plain PyTorch, fp32); with --precision bf16
    its forward passes and losses (training and validation) run under
    torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's bf16 mixed precision;
  * each step takes global batch s (samples s*G .. s*G+G-1), accumulates
    G/micro micro-batches with loss/accumulation, clips the global grad norm,
    sets the NeMo warmup+cosine lr, and steps torch.optim.AdamW (betas 0.9/0.95,
    eps 1e-8, no decay on norm weights);
  * validation is the mean loss over the first val_batches global batches of
    the valid split (the same batches every time, as NeMo's validation loop),
    every val_interval steps and after the last step. The valid dataset is built
    with Megatron's num_samples = (max_steps // val_interval + 1) * val_batches * G.

Prints one line per step and writes --out as JSON:
  {"train": [[step, loss, lr, grad_norm], ...], "valid": [[step, val_loss], ...]}
"""

import argparse
import json
import math
import os
import re
import struct
import sys
import time

import numpy as np

DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64,
          7: np.float32, 8: np.uint16}


class IndexedDataset:
    def __init__(self, prefix):
        with open(prefix + ".idx", "rb") as f:
            magic = f.read(9)
            assert magic == b"MMIDIDX\x00\x00", f"{prefix}.idx: not MMIDIDX"
            version, = struct.unpack("<Q", f.read(8))
            assert version == 1
            code, = struct.unpack("<B", f.read(1))
            self.dtype = DTYPES[code]
            n, = struct.unpack("<Q", f.read(8))
            docs, = struct.unpack("<Q", f.read(8))
            offset = f.tell()
        idx = np.memmap(prefix + ".idx", mode="r", order="C")
        self.sizes = np.frombuffer(idx, dtype=np.int32, count=n, offset=offset)
        self.pointers = np.frombuffer(idx, dtype=np.int64, count=n, offset=offset + self.sizes.nbytes)
        self.bin = np.memmap(prefix + ".bin", mode="r", order="C")

    def get(self, i, offset=0, length=None):
        if length is None:
            length = int(self.sizes[i]) - offset
        start = int(self.pointers[i]) + offset * np.dtype(self.dtype).itemsize
        return np.frombuffer(self.bin, dtype=self.dtype, count=length, offset=start)


def split_ranges(split, n):
    values = [float(x) for x in re.findall(r"[.0-9]+", split)]
    values += [0.0] * (3 - len(values))
    total = float(np.sum(np.array(values, dtype=np.float64)))
    fractions = [v / total for v in values]
    ends = [0]
    for f in fractions:
        ends.append(ends[-1] + f)
    ranges = []
    for i in range(3):
        if fractions[i] == 0:
            ranges.append(None)
        else:
            ranges.append((int(round(ends[i] * float(n))), int(round(ends[i + 1] * float(n)))))
    return ranges


def build_indices(sizes, begin, end, num_samples, seq, seed, extra=1):
    documents = np.arange(begin, end, dtype=np.int32)
    tokens_per_epoch = int(np.sum(sizes[documents]))
    epochs = 1
    if num_samples is not None:
        total = tokens_per_epoch
        while total < num_samples * seq + extra:
            epochs += 1
            total += tokens_per_epoch
    separate = False
    if epochs > 1:
        sans_final = ((epochs - 1) * tokens_per_epoch - extra) // seq
        from_final = num_samples - sans_final
        per_epoch = (tokens_per_epoch - extra) // seq
        separate = from_final < int(0.80 * per_epoch)
    rng = np.random.RandomState(seed)

    def shuffled_documents(n_epochs):
        d = np.mgrid[0:n_epochs, 0:len(documents)][1]
        d[:] = documents
        d = d.reshape(-1).astype(np.int32)
        rng.shuffle(d)
        return d

    if separate:
        doc_idx = np.concatenate((shuffled_documents(epochs - 1), shuffled_documents(1)))
    else:
        doc_idx = shuffled_documents(epochs)

    n_samples = (epochs * tokens_per_epoch - extra) // seq
    sample_idx = np.zeros((n_samples + 1, 2), dtype=np.int64)
    pos, off = 0, 0
    for s in range(1, n_samples + 1):
        remaining = seq + extra
        while remaining != 0:
            length = int(sizes[doc_idx[pos]]) - off
            remaining -= length
            if remaining <= 0:
                off += remaining + length - extra
                remaining = 0
            else:
                if pos == len(doc_idx) - 1:
                    off = int(sizes[doc_idx[pos]]) - extra
                    break
                pos += 1
                off = 0
        sample_idx[s] = (pos, off)

    first = sans_final if separate else n_samples
    head = np.arange(0, first, dtype=np.uint32)
    rng.shuffle(head)
    if first == n_samples:
        shuffle_idx = head
    else:
        tail = np.arange(first, n_samples, dtype=np.uint32)
        rng.shuffle(tail)
        shuffle_idx = np.concatenate((head, tail))
    return {"num_epochs": epochs, "separate_final_epoch": separate, "tokens_per_epoch": tokens_per_epoch,
            "document_index": doc_idx, "sample_index": sample_idx, "shuffle_index": shuffle_idx}


def sample(data, ix, i, extra=1):
    s = int(ix["shuffle_index"][i])
    (d0, o0), (d1, o1) = ix["sample_index"][s], ix["sample_index"][s + 1]
    parts = []
    for d in range(int(d0), int(d1) + 1):
        doc = int(ix["document_index"][d])
        start = int(o0) if d == d0 else 0
        length = int(o1) + extra - start if d == d1 else None
        parts.append(data.get(doc, start, length))
    return np.concatenate(parts).astype(np.int64)


def self_test(vectors_dir):
    v = json.load(open(os.path.join(vectors_dir, "gpt_index_vectors.json")))
    data = IndexedDataset(os.path.join(vectors_dir, "tiny_text_document"))
    ranges = split_ranges("8,1,1", len(data.sizes))
    assert [list(r) for r in ranges] == v["split"], ranges
    for name in ["train_a", "train_b", "train_c", "valid", "test"]:
        c = v[name]
        r = ranges[0 if name.startswith("train") else ["", "valid", "test"].index(name)]
        ix = build_indices(data.sizes, r[0], r[1], c["num_samples_requested"], 4, 1234)
        assert ix["num_epochs"] == c["num_epochs"], name
        assert ix["separate_final_epoch"] == c["separate_final_epoch"], name
        assert ix["document_index"].tolist() == c["document_index"], name
        assert ix["sample_index"].tolist() == c["sample_index"], name
        assert ix["shuffle_index"].tolist() == c["shuffle_index"], name
        got = [sample(data, ix, i).tolist() for i in range(len(ix["shuffle_index"]))]
        assert got == c["samples_in_order"], name
    print("self-test: the GPT sample order matches Megatron's vectors (5 cases)")


def check_cache(cache_dir, split_name, ix):
    found = 0
    for name in sorted(os.listdir(cache_dir)):
        if not name.endswith(f"-GPTDataset-{split_name}-description.txt"):
            continue
        base = os.path.join(cache_dir, name[: -len("description.txt")])
        theirs = {k: np.load(base + k + ".npy") for k in ["document_index", "sample_index", "shuffle_index"]}
        if len(theirs["shuffle_index"]) != len(ix["shuffle_index"]):
            continue
        for k in theirs:
            assert np.array_equal(theirs[k], ix[k]), f"{split_name} {k} differs from cria's cache {base}{k}.npy"
        found += 1
    assert found > 0, f"no cached {split_name} indices of this size in {cache_dir}"
    print(f"cria's cached {split_name} indices are identical to the ones built here")


def read_safetensors(path):
    import torch
    with open(path, "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
    raw = np.memmap(path, mode="r")
    tensors = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", f"{name}: {e['dtype']}"
        a, b = e["data_offsets"]
        arr = np.frombuffer(raw, dtype=np.float32, count=(b - a) // 4, offset=base + a).reshape(e["shape"])
        tensors[name] = torch.from_numpy(arr.copy())
    return tensors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-test", metavar="VECTORS_DIR")
    ap.add_argument("--data-prefix")
    ap.add_argument("--init")
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=None)
    ap.add_argument("--split", default="969,30,1")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--global-batch", type=int, default=8)
    ap.add_argument("--max-steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup-steps", type=int, default=30)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip-grad", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--val-interval", type=int, default=50)
    ap.add_argument("--val-batches", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check-index-cache", metavar="DIR")
    ap.add_argument("--out")
    ap.add_argument("--precision", choices=["32", "bf16"], default="32")
    args = ap.parse_args()
    if args.self_test:
        self_test(args.self_test)
        return
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import llama_reference as ref
    torch.set_num_threads(args.threads)
    import contextlib

    def autocast():
        if args.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    data = IndexedDataset(args.data_prefix)
    ranges = split_ranges(args.split, len(data.sizes))
    G, micro = args.global_batch, args.micro_batch
    accumulation = G // micro
    train = build_indices(data.sizes, *ranges[0], args.max_steps * G, args.seq_len, args.seed)
    validations = args.max_steps // args.val_interval + 1 if args.val_interval > 0 else 1
    valid = build_indices(data.sizes, *ranges[1], validations * args.val_batches * G, args.seq_len, args.seed)
    if args.check_index_cache:
        check_cache(args.check_index_cache, "train", train)
        check_cache(args.check_index_cache, "valid", valid)

    weights = read_safetensors(args.init)
    V, D = weights["model.embed_tokens.weight"].shape
    L = 1 + max(int(n.split(".")[2]) for n in weights if n.startswith("model.layers."))
    F = weights["model.layers.0.mlp.gate_proj.weight"].shape[0]
    kv = args.kv_heads or args.heads
    cfg = ref.make_config(D, L, args.heads, kv, F, V)
    model = ref.LlamaForCausalLM(cfg)
    missing = model.load_state_dict(weights, strict=True)
    opt = ref.make_optimizer(model, args.lr, weight_decay=args.weight_decay)
    print(f"pytorch {torch.__version__}: D={D} L={L} H={args.heads} KVH={kv} F={F} V={V}; "
          f"{len(train['shuffle_index'])} train samples, {len(valid['shuffle_index'])} valid samples", flush=True)

    def batch(ix, first):
        rows = [sample(data, ix, first + b) for b in range(micro)]
        t = torch.from_numpy(np.stack(rows))
        return t[:, :-1].contiguous(), t[:, 1:].contiguous()

    def validate():
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for b in range(args.val_batches):
                for m in range(accumulation):
                    x, y = batch(valid, b * G + m * micro)
                    with autocast():
                        total += float(ref.loss_fn(model(x), y))
                    count += 1
        model.train()
        return total / count

    curve = {"train": [], "valid": []}
    t_start = time.perf_counter()
    validated = -1
    for step in range(args.max_steps):
        t0 = time.perf_counter()
        lr = ref.lr_at(step, args.lr, args.min_lr, args.warmup_steps, args.max_steps)
        ref.set_lr(opt, lr)
        opt.zero_grad(set_to_none=True)
        loss_sum = 0.0
        for m in range(accumulation):
            x, y = batch(train, step * G + m * micro)
            with autocast():
                loss = ref.loss_fn(model(x), y)
            (loss / accumulation).backward()
            loss_sum += float(loss)
        norm = ref.clip_grads(model, args.clip_grad) if args.clip_grad > 0 else float(
            torch.norm(torch.stack([p.grad.norm() for p in model.parameters()])))
        opt.step()
        done = step + 1
        loss = loss_sum / accumulation
        curve["train"].append([done, loss, lr, norm])
        print(f"step {done}/{args.max_steps} loss {loss:.4f} lr {lr:.4e} grad_norm {norm:.4f} "
              f"({time.perf_counter() - t0:.2f} s)", flush=True)
        if args.val_interval > 0 and done % args.val_interval == 0:
            v = validate()
            validated = done
            curve["valid"].append([done, v])
            print(f"validation step {done} val_loss {v:.4f}", flush=True)
    if validated != args.max_steps:
        v = validate()
        curve["valid"].append([args.max_steps, v])
        print(f"validation step {args.max_steps} val_loss {v:.4f}", flush=True)
    print(f"done in {time.perf_counter() - t_start:.0f} s", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(curve, f)


if __name__ == "__main__":
    main()

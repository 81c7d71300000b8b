#!/usr/bin/python3
"""Loads a `cria export` directory into an independent PyTorch Llama and compares its loss with `cria eval`.

Usage (repository root, Debian's interpreter with python3-torch and python3-numpy):

  ./cria eval RUN --json | tail -1 > eval.json
  ./cria export RUN --output HF_DIR --dtype fp32
  /usr/bin/python3 tools/check_hf_export.py HF_DIR eval.json [--tolerance 1e-4] [--threads 2]

Nothing here comes from cria's Java code:
  * config.json is read as Hugging Face's LlamaConfig fields (hidden_size, intermediate_size,
    num_hidden_layers, num_attention_heads, num_key_value_heads, vocab_size, rms_norm_eps,
    rope_theta);
  * the safetensors files (model.safetensors, or the shards named by model.safetensors.index.json)
    are parsed with numpy, F32 or BF16 (widened to float32), and loaded into
    tools/llama_reference.py's LlamaForCausalLM with strict=True, so a missing, extra or misshapen
    tensor fails;
  * the batches are rebuilt from eval.json (data prefix, split, seed, seq_length, batch sizes and
    the number of samples the split's index was built with) by train_pytorch.py's numpy version of
    Megatron-Core's GPTDataset order;
  * the loss is the mean over micro-batches of the mean token cross-entropy, as cria eval's.

Exits 1 when |loss - cria's loss| exceeds the tolerance.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np


def read_tensors(hf_dir):
    import torch
    index = os.path.join(hf_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for name in files:
        path = os.path.join(hf_dir, name)
        with open(path, "rb") as f:
            n, = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        raw = np.memmap(path, mode="r")
        base = 8 + n
        for key, e in header.items():
            if key == "__metadata__":
                continue
            a, b = e["data_offsets"]
            if e["dtype"] == "F32":
                arr = np.frombuffer(raw, dtype="<f4", count=(b - a) // 4, offset=base + a)
            elif e["dtype"] == "BF16":
                half = np.frombuffer(raw, dtype="<u2", count=(b - a) // 2, offset=base + a)
                arr = (half.astype(np.uint32) << 16).view(np.float32)
            else:
                raise SystemExit(f"{path}: {key} has dtype {e['dtype']}")
            tensors[key] = torch.from_numpy(arr.astype(np.float32).reshape(e["shape"]))
    return tensors, files


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hf_dir")
    ap.add_argument("eval_json", help="the last line of `cria eval --json`")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import llama_reference as ref
    import train_pytorch as tp
    torch.set_num_threads(args.threads)

    ev = json.loads(open(args.eval_json).read().strip().splitlines()[-1])
    cfg_json = json.load(open(os.path.join(args.hf_dir, "config.json")))
    assert cfg_json["architectures"] == ["LlamaForCausalLM"], cfg_json["architectures"]
    cfg = ref.make_config(cfg_json["hidden_size"], cfg_json["num_hidden_layers"], cfg_json["num_attention_heads"],
                          cfg_json["num_key_value_heads"], cfg_json["intermediate_size"], cfg_json["vocab_size"],
                          norm_eps=cfg_json["rms_norm_eps"], rope_theta=cfg_json["rope_theta"])
    model = ref.LlamaForCausalLM(cfg)
    tensors, files = read_tensors(args.hf_dir)
    model.load_state_dict(tensors, strict=True)
    model.eval()

    if len(ev["data_prefix"]) != 1:
        raise SystemExit("blended data is not supported here; evaluate on one prefix")
    data = tp.IndexedDataset(ev["data_prefix"][0])
    ranges = tp.split_ranges(ev["split_weights"], len(data.sizes))
    which = {"train": 0, "valid": 1, "test": 2}[ev["split"]]
    ix = tp.build_indices(data.sizes, *ranges[which], ev["samples_built"], ev["seq_length"], ev["seed"])
    G, micro = ev["global_batch_size"], ev["micro_batch_size"]
    total, count = 0.0, 0
    with torch.no_grad():
        for b in range(ev["batches"]):
            for m in range(G // micro):
                rows = [tp.sample(data, ix, b * G + m * micro + i) for i in range(micro)]
                t = torch.from_numpy(np.stack(rows))
                total += float(ref.loss_fn(model(t[:, :-1]), t[:, 1:]))
                count += 1
    loss = total / count
    diff = abs(loss - ev["loss"])
    dtype = cfg_json.get("torch_dtype")
    print(f"pytorch {torch.__version__}: {len(tensors)} tensors from {len(files)} file(s) ({dtype}); "
          f"{ev['split']} loss {loss:.6f} vs cria eval {ev['loss']:.6f} (step {ev['step']}): "
          f"difference {diff:.2e}, tolerance {args.tolerance:.0e}")
    if diff > args.tolerance:
        print("MISMATCH")
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()

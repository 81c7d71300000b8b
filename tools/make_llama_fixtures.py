#!/usr/bin/python3
"""Writes the PyTorch reference fixture cria-engine/src/test/resources/fixtures/llama-small-gqa/.

Run from the repository root with Debian's interpreter:

  /usr/bin/python3 tools/make_llama_fixtures.py [--out DIR]

Model (tools/llama_reference.py, fp32 throughout): D=64, L=2, H=4, KVH=2 (GQA),
hd=16, F=172, V=256, eps 1e-5, theta 10000; batch B=2, T=16, seed 1234.

Data: tokens = torch.randint(0, V, (B, T)) from a torch.Generator seeded with
seed + 1 (the weights use a generator seeded with seed). targets[b, t] =
tokens[b, t + 1] for t < T-1, targets[b, T-1] = -1, and additionally
targets[0, 3], targets[1, 0], targets[1, 7] = -1 (ignore_index).

Files:
  config.json          model config, B, T, seeds, optimizer and schedule settings
  batch.json           {"tokens": [[...]], "targets": [[...]]}
  weights.safetensors  initial parameters by HF name (F32)
  outputs.safetensors  logits [B,T,V] and loss [1] of the initial weights;
                       grad.<name>: gradient of that loss (before clipping);
                       step3.<name>: parameters after 3 optimizer steps on the
                       same batch (each: forward, loss, backward, clip to 1.0,
                       lr from schedule, AdamW step);
                       losses [3] (loss before each step), grad_norms [3] (total
                       grad norm before clipping at each step), lrs [3] (lr of
                       each step, rounded to F32; the step itself used the double).

Runs single-threaded so that the numbers are reproducible.
"""

import argparse
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_reference as ref  # noqa: E402

DEFAULT_OUT = "cria-engine/src/test/resources/fixtures/llama-small-gqa"


# ---------------------------------------------------------------- safetensors
def write_safetensors(path, tensors):
    """tensors: dict name -> fp32 or bf16 torch tensor. Sorted-name order, contiguous.
    Returns the bytes of tensor data written."""
    names = sorted(tensors)
    header, blobs, offset = {}, [], 0
    for name in names:
        t = tensors[name].detach().contiguous()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: its bits, as int16
            dtype, data = "BF16", t.view(torch.int16).numpy().astype("<i2", copy=False).tobytes()
        else:
            assert t.dtype == torch.float32, (name, t.dtype)
            dtype, data = "F32", t.numpy().astype("<f4", copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    return offset


def read_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    out, end_max = {}, 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32"
        b, e = info["data_offsets"]
        end_max = max(end_max, e)
        arr = np.frombuffer(raw[base + b: base + e], dtype="<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    assert base + end_max == len(raw), "trailing bytes"
    return out


# ---------------------------------------------------------------- fixture
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)

    B, T, seed = 2, 16, 1234
    cfg = ref.make_config(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=172,
                          vocab_size=256, norm_eps=1e-5, rope_theta=10000.0)
    opt_cfg = {"max_lr": 3e-3, "min_lr": 3e-4, "warmup": 1, "max_steps": 3,
               "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1,
               "clip": 1.0, "steps_run": 3}
    ignored = [[0, 3], [1, 0], [1, 7]]

    model = ref.build_model(cfg, seed)
    names = [n for n, _ in model.named_parameters()]
    initial = {n: p.detach().clone() for n, p in model.named_parameters()}

    g = torch.Generator()
    g.manual_seed(seed + 1)
    tokens = torch.randint(0, cfg["vocab_size"], (B, T), generator=g, dtype=torch.int64)
    targets = torch.full((B, T), ref.IGNORE_INDEX, dtype=torch.int64)
    targets[:, :-1] = tokens[:, 1:]
    for b, t in ignored:
        targets[b, t] = ref.IGNORE_INDEX

    opt = ref.make_optimizer(model, lr=opt_cfg["max_lr"], betas=tuple(opt_cfg["betas"]),
                             eps=opt_cfg["eps"], weight_decay=opt_cfg["weight_decay"])
    out = {}
    losses, norms, lrs = [], [], []
    for s in range(opt_cfg["steps_run"]):
        opt.zero_grad(set_to_none=True)
        logits = model(tokens)
        loss = ref.loss_fn(logits, targets)
        loss.backward()
        if s == 0:
            out["logits"] = logits.detach().clone()
            out["loss"] = loss.detach().reshape(1).clone()
            for n, p in model.named_parameters():
                out["grad." + n] = p.grad.detach().clone()
        norms.append(ref.clip_grads(model, opt_cfg["clip"]))
        lr = ref.lr_at(s, opt_cfg["max_lr"], opt_cfg["min_lr"], opt_cfg["warmup"], opt_cfg["max_steps"])
        ref.set_lr(opt, lr)
        opt.step()
        losses.append(loss.item())
        lrs.append(lr)
    for n, p in model.named_parameters():
        out["step3." + n] = p.detach().clone()
    out["losses"] = torch.tensor(losses, dtype=torch.float32)
    out["grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    out["lrs"] = torch.tensor(lrs, dtype=torch.float32)

    os.makedirs(args.out, exist_ok=True)
    config = {
        "model": cfg,
        "tie_word_embeddings": False,
        "batch_size": B, "seq_len": T, "seed": seed, "data_seed": seed + 1,
        "ignore_index": ref.IGNORE_INDEX, "ignored_positions_besides_last": ignored,
        "optimizer": {"type": "AdamW", "betas": opt_cfg["betas"], "eps": opt_cfg["eps"],
                      "weight_decay": opt_cfg["weight_decay"],
                      "no_weight_decay": ["input_layernorm.weight", "post_attention_layernorm.weight",
                                          "model.norm.weight"],
                      "clip_grad_norm": opt_cfg["clip"], "clip_eps": 1e-6},
        "schedule": {"type": "NeMo CosineAnnealing with linear warmup",
                     "max_lr": opt_cfg["max_lr"], "min_lr": opt_cfg["min_lr"],
                     "warmup_steps": opt_cfg["warmup"], "max_steps": opt_cfg["max_steps"]},
        "steps_run": opt_cfg["steps_run"],
        "lrs": lrs,
        "param_order": names,
        "generator": "tools/make_llama_fixtures.py (torch %s)" % torch.__version__,
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "batch.json"), "w") as f:
        f.write('{"tokens": %s,\n "targets": %s}\n' % (json.dumps(tokens.tolist()), json.dumps(targets.tolist())))
    wpath = os.path.join(args.out, "weights.safetensors")
    opath = os.path.join(args.out, "outputs.safetensors")
    write_safetensors(wpath, initial)
    write_safetensors(opath, out)

    # Read back and check bit-exactness.
    for path, src in ((wpath, initial), (opath, out)):
        back = read_safetensors(path)
        assert sorted(back) == sorted(src), path
        for n in src:
            assert back[n].shape == src[n].shape and torch.equal(back[n], src[n]), (path, n)

    # Re-check loss / logits from the written weights with a fresh model.
    m2 = ref.LlamaForCausalLM(cfg)
    m2.load_state_dict(read_safetensors(wpath))
    with torch.no_grad():
        l2 = m2(tokens)
        assert torch.equal(l2, out["logits"]), "logits not reproducible"

    nparams = sum(p.numel() for p in initial.values())
    size = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print("fixture:", args.out)
    print("params: %d (matmul %d)" % (nparams, ref.matmul_param_count(model)))
    print("valid target positions: %d of %d" % (int((targets != -1).sum()), B * T))
    print("initial loss: %.7f (ln V = %.7f)" % (losses[0], torch.log(torch.tensor(float(cfg["vocab_size"]))).item()))
    print("losses:", ["%.7f" % x for x in losses])
    print("grad norms (before clip):", ["%.7f" % x for x in norms])
    print("lrs:", lrs)
    print("max |step3 - init|: %.6g" % max((out["step3." + n] - initial[n]).abs().max().item() for n in names))
    print("fixture bytes: %d" % size)


if __name__ == "__main__":
    main()

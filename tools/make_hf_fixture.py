#!/usr/bin/python3
"""Writes cria-engine/src/test/resources/fixtures/hf-llama-bf16/: a Hugging Face Llama directory made by PyTorch.

Run from the repository root with Debian's interpreter:

  /usr/bin/python3 tools/make_hf_fixture.py [--out DIR]

It takes the F32 weights of the llama-small-gqa fixture (tools/make_llama_fixtures.py), converts
them with torch's own `tensor.to(torch.bfloat16)`, and writes them as save_pretrained lays a
sharded model out: model-00001-of-00002.safetensors, model-00002-of-00002.safetensors (BF16) and
model.safetensors.index.json, with a config.json of LlamaForCausalLM fields. expected.json holds
the loss and the first logits of tools/llama_reference.py on the fixture's batch with those
bf16 weights widened to float32, so cria's import (`--init-from`, `cria generate HF_DIR`) is
checked against an independent implementation, and cria's own BF16 export can be compared bit
for bit with torch's rounding.
"""

import argparse
import json
import os
import sys

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import llama_reference as ref  # noqa: E402
from make_llama_fixtures import read_safetensors, write_safetensors  # noqa: E402

SOURCE = "cria-engine/src/test/resources/fixtures/llama-small-gqa"
DEFAULT_OUT = "cria-engine/src/test/resources/fixtures/hf-llama-bf16"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)

    cfg_src = json.load(open(os.path.join(SOURCE, "config.json")))["model"]
    batch = json.load(open(os.path.join(SOURCE, "batch.json")))
    weights = read_safetensors(os.path.join(SOURCE, "weights.safetensors"))
    bf16 = {n: t.to(torch.bfloat16) for n, t in weights.items()}

    # save_pretrained's order: embeddings, layers, norm, lm_head; split in two shards after layer 0
    names = ["model.embed_tokens.weight"]
    for layer in range(cfg_src["n_layers"]):
        names += sorted(n for n in weights if n.startswith(f"model.layers.{layer}."))
    names += ["model.norm.weight", "lm_head.weight"]
    assert sorted(names) == sorted(weights)
    cut = 1 + len([n for n in names if n.startswith("model.layers.0.")])
    shards = [names[:cut], names[cut:]]
    weight_map, total = {}, 0
    for i, part in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        total += write_safetensors(os.path.join(args.out, fname), {n: bf16[n] for n in part})
        weight_map.update({n: fname for n in part})
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": cfg_src["dim"], "intermediate_size": cfg_src["ffn_dim"],
        "num_hidden_layers": cfg_src["n_layers"], "num_attention_heads": cfg_src["n_heads"],
        "num_key_value_heads": cfg_src["n_kv_heads"], "vocab_size": cfg_src["vocab_size"],
        "max_position_embeddings": 64, "rms_norm_eps": cfg_src["norm_eps"], "rope_theta": cfg_src["rope_theta"],
        "rope_scaling": None, "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "bos_token_id": 1, "eos_token_id": 2,
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    model = ref.LlamaForCausalLM(ref.make_config(cfg_src["dim"], cfg_src["n_layers"], cfg_src["n_heads"],
                                                 cfg_src["n_kv_heads"], cfg_src["ffn_dim"], cfg_src["vocab_size"],
                                                 cfg_src["norm_eps"], cfg_src["rope_theta"]))
    model.load_state_dict({n: t.to(torch.float32) for n, t in bf16.items()}, strict=True)
    tokens = torch.tensor(batch["tokens"], dtype=torch.int64)
    targets = torch.tensor(batch["targets"], dtype=torch.int64)
    with torch.no_grad():
        logits = model(tokens)
        loss = ref.loss_fn(logits, targets)
    expected = {"tokens": batch["tokens"], "targets": batch["targets"], "loss": float(loss),
                "logits_first_row": [float(x) for x in logits[0, 0, :16]],
                "logits_last_row": [float(x) for x in logits[-1, -1, :16]]}
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f)
    print(f"wrote {args.out}: {len(names)} tensors in {len(shards)} BF16 shards, loss {float(loss):.6f}")


if __name__ == "__main__":
    main()

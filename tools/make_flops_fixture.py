#!/usr/bin/python3
"""Counts the matrix-product FLOPs of a Llama training step with PyTorch's profiler, independently
of cria's formula, for the fixture that LlamaConfigFlopsTest compares cria's
LlamaConfig.trainingFlopsPerToken with.

For each configuration below it builds tools/llama_reference.py's LlamaForCausalLM, runs one
forward and backward pass of a B x T batch under torch.profiler with with_flops=True, and sums the
FLOPs that the profiler gives the matrix-product operators (aten::mm, addmm, bmm, baddbmm; the
element-wise operators it also counts are left out, as every MFU formula leaves them out). The
reference model multiplies the whole T x T score matrix and masks it afterwards, so its attention
products are the full ones; cria counts half of them (causal attention computes only the lower
triangle), which the test says.

Usage: /usr/bin/python3 tools/make_flops_fixture.py OUT.json   (needs python3-torch)
"""
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "2")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_reference as ref  # noqa: E402

MATMULS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}

# dim, layers, heads, kv heads, ffn, vocab, batch, sequence
CONFIGS = [
    (32, 2, 2, 2, 96, 600, 2, 32),       # the tests' d=32 model
    (288, 6, 6, 6, 768, 8000, 1, 256),   # the tiny preset with the demo's vocabulary
    (256, 4, 8, 2, 704, 1000, 2, 64),    # grouped-query attention: 8 heads, 2 kv heads
]


def count(dim, layers, heads, kv, ffn, vocab, batch, seq):
    torch.manual_seed(0)
    model = ref.LlamaForCausalLM(ref.make_config(dim, layers, heads, kv, ffn, vocab))
    x = torch.randint(0, vocab, (batch, seq))
    y = torch.randint(0, vocab, (batch, seq))
    with torch.profiler.profile(with_flops=True) as prof:
        loss = ref.loss_fn(model(x), y)
        loss.backward()
    flops = sum(e.flops for e in prof.events() if e.name in MATMULS and e.flops)
    return flops / (batch * seq)


def main():
    out = []
    for c in CONFIGS:
        dim, layers, heads, kv, ffn, vocab, batch, seq = c
        per_token = count(*c)
        out.append({"dim": dim, "layers": layers, "heads": heads, "kv_heads": kv, "ffn": ffn,
                    "vocab": vocab, "batch": batch, "seq": seq,
                    "matmul_flops_per_token_full_attention": per_token})
        print(c, per_token)
    with open(sys.argv[1], "w") as f:
        json.dump({"made_by": "tools/make_flops_fixture.py with PyTorch " + torch.__version__,
                   "configs": out}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

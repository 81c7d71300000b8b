#!/usr/bin/python3
"""Independent plain-PyTorch reference of the Llama-2 model that cria trains.

Run with Debian's interpreter (/usr/bin/python3, package python3-torch). This
module is imported by tools/make_llama_fixtures.py and tools/bench_pytorch.py.

Everything is fp32; there is no dropout and no bias anywhere.

Config (a plain dict):
  dim D, n_layers L, n_heads H, n_kv_heads KVH (H % KVH == 0), head_dim hd = D/H,
  ffn_dim F, vocab_size V, norm_eps (1e-5), rope_theta (10000.0).

Parameters carry Hugging Face LlamaForCausalLM names ([out, in] for linear
weights), see ``LlamaForCausalLM.named_parameters()``:
  model.embed_tokens.weight                    [V, D]
  model.layers.{i}.input_layernorm.weight      [D]
  model.layers.{i}.self_attn.q_proj.weight     [H*hd, D]
  model.layers.{i}.self_attn.k_proj.weight     [KVH*hd, D]
  model.layers.{i}.self_attn.v_proj.weight     [KVH*hd, D]
  model.layers.{i}.self_attn.o_proj.weight     [D, H*hd]
  model.layers.{i}.post_attention_layernorm.weight [D]
  model.layers.{i}.mlp.gate_proj.weight        [F, D]
  model.layers.{i}.mlp.up_proj.weight          [F, D]
  model.layers.{i}.mlp.down_proj.weight        [D, F]
  model.norm.weight                            [D]
  lm_head.weight                               [V, D]   (untied)

Forward for tokens [B, T] (int64):
  h = embed[tokens]
  per layer:
    x = rmsnorm(h, input_layernorm)
    q, k, v = projections of x, viewed [B, T, heads, hd]
    RoPE on q and k (HF half-split): inv_freq[j] = 1 / theta^((2j)/hd) computed
      in fp32 as in HF (1.0 / (theta ** (arange(0, hd, 2).float() / hd))),
      angles[t, j] = t * inv_freq[j] (fp32), cos/sin = cat(angles, angles) [T, hd],
      rotate_half(x) = cat(-x[..., hd/2:], x[..., :hd/2]),
      x' = x * cos + rotate_half(x) * sin, positions t = 0..T-1 per sequence
    attention per query head qh with kv head qh // (H/KVH):
      scores = (q @ k^T) / sqrt(hd); causal mask (key position > query position
      gets -inf); softmax over keys (fp32); out = p @ v
    h = h + o_proj(concat heads)
    x = rmsnorm(h, post_attention_layernorm)
    h = h + down(silu(gate(x)) * up(x))
  logits = lm_head(rmsnorm(h, model.norm))
  rmsnorm(x, w) = (x * rsqrt(mean(x^2, last dim) + eps)) * w

Loss: F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1),
i.e. the mean over positions whose target != -1.

Init (``init_weights``): one torch.Generator seeded with ``seed``; parameters
are filled in ``named_parameters()`` order (the order listed above, layer by
layer) with normal_(0, std, generator=g): std 0.02 for embeddings, q/k/v,
gate/up and lm_head; 0.02/sqrt(2*L) for o_proj and down_proj; norm weights 1
(norm weights do not consume random numbers).

LR schedule (``lr_at``): NeMo CosineAnnealing with linear warmup, for the
s-th optimizer update (s = 0, 1, 2, ...):
  if warmup > 0 and s <= warmup: lr = max_lr * (s + 1) / (warmup + 1)
  elif s > max_steps:            lr = min_lr
  else: lr = min_lr + (max_lr - min_lr) * 0.5 * (1 + cos(pi * (s - warmup) / (max_steps - warmup)))
  (computed in Python double; torch's AdamW takes lr as a Python float.)

Optimizer (``make_optimizer``): torch.optim.AdamW(betas=(0.9, 0.95), eps=1e-8),
weight_decay 0.1 except for the norm weights (input_layernorm,
post_attention_layernorm, model.norm: 0). torch 1.13 (single-tensor path, CPU)
does, per parameter, with step counter n (1-based) and lr/wd as doubles:
  p *= (1 - lr*wd)
  m = b1*m + (1-b1)*g ;  v = b2*v + (1-b2)*g*g
  denom = sqrt(v) / sqrt(1 - b2^n) + eps
  p += -(lr / (1 - b1^n)) * m / denom
Gradient clipping (``clip_grads``) before each step:
  torch.nn.utils.clip_grad_norm_(params, 1.0): total = ||(||g_i||_2)_i||_2 (fp32),
  coef = min(1, 1.0 / (total + 1e-6)); every g *= coef (also when coef == 1).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

IGNORE_INDEX = -1

NORM_SUFFIXES = ("input_layernorm.weight", "post_attention_layernorm.weight", "model.norm.weight")


def make_config(dim, n_layers, n_heads, n_kv_heads, ffn_dim, vocab_size,
                norm_eps=1e-5, rope_theta=10000.0):
    assert dim % n_heads == 0 and n_heads % n_kv_heads == 0
    return {
        "dim": dim, "n_layers": n_layers, "n_heads": n_heads, "n_kv_heads": n_kv_heads,
        "head_dim": dim // n_heads, "ffn_dim": ffn_dim, "vocab_size": vocab_size,
        "norm_eps": norm_eps, "rope_theta": rope_theta,
    }


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim, dtype=torch.float32))

    def forward(self, x):
        r = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return (x * r) * self.weight


def rope_cos_sin(T, hd, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    t = torch.arange(T, dtype=torch.int64).float()
    angles = torch.outer(t, inv_freq)           # [T, hd/2]
    emb = torch.cat((angles, angles), dim=-1)   # [T, hd]
    return emb.cos(), emb.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x, cos, sin):
    # x: [B, T, heads, hd]; cos/sin: [T, hd]
    c = cos[None, :, None, :]
    s = sin[None, :, None, :]
    return x * c + rotate_half(x) * s


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, H, KVH, hd = cfg["dim"], cfg["n_heads"], cfg["n_kv_heads"], cfg["head_dim"]
        self.H, self.KVH, self.hd = H, KVH, hd
        self.q_proj = nn.Linear(D, H * hd, bias=False)
        self.k_proj = nn.Linear(D, KVH * hd, bias=False)
        self.v_proj = nn.Linear(D, KVH * hd, bias=False)
        self.o_proj = nn.Linear(H * hd, D, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        H, KVH, hd = self.H, self.KVH, self.hd
        q = self.q_proj(x).view(B, T, H, hd)
        k = self.k_proj(x).view(B, T, KVH, hd)
        v = self.v_proj(x).view(B, T, KVH, hd)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        group = H // KVH
        if group > 1:  # kv head for query head h is h // group
            k = k.repeat_interleave(group, dim=2)
            v = v.repeat_interleave(group, dim=2)
        q = q.transpose(1, 2)  # [B, H, T, hd]
        k = k.transpose(1, 2)
        v = v.transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(hd)
        scores = scores.masked_fill(mask, float("-inf"))
        p = torch.softmax(scores, dim=-1)
        out = torch.matmul(p, v)  # [B, H, T, hd]
        out = out.transpose(1, 2).reshape(B, T, H * hd)
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, Fd = cfg["dim"], cfg["ffn_dim"]
        self.gate_proj = nn.Linear(D, Fd, bias=False)
        self.up_proj = nn.Linear(D, Fd, bias=False)
        self.down_proj = nn.Linear(Fd, D, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.mlp = MLP(cfg)

    def forward(self, h, cos, sin, mask):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, mask)
        h = h + self.mlp(self.post_attention_layernorm(h))
        return h


class LlamaModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["dim"])
        self.layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(cfg["n_layers"])])
        self.norm = RMSNorm(cfg["dim"], cfg["norm_eps"])


class LlamaForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        self.model = LlamaModel(cfg)
        self.lm_head = nn.Linear(cfg["dim"], cfg["vocab_size"], bias=False)

    def forward(self, tokens):
        B, T = tokens.shape
        cfg = self.cfg
        cos, sin = rope_cos_sin(T, cfg["head_dim"], cfg["rope_theta"])
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = masked (key after query)
        h = self.model.embed_tokens(tokens)
        for layer in self.model.layers:
            h = layer(h, cos, sin, mask)
        return self.lm_head(self.model.norm(h))


def loss_fn(logits, targets):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="mean")


def is_norm_weight(name):
    return name.endswith(NORM_SUFFIXES)


def init_weights(model, seed):
    L = model.cfg["n_layers"]
    g = torch.Generator()
    g.manual_seed(seed)
    small = 0.02 / math.sqrt(2 * L)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if is_norm_weight(name):
                p.fill_(1.0)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                p.normal_(0.0, small, generator=g)
            else:
                p.normal_(0.0, 0.02, generator=g)
    return model


def build_model(cfg, seed):
    torch.manual_seed(seed)  # module constructors draw from the global RNG; overwritten below
    return init_weights(LlamaForCausalLM(cfg), seed)


def matmul_param_count(model):
    """Parameters of all linear layers (q/k/v/o, gate/up/down, lm_head): excludes embeddings and norms."""
    return sum(p.numel() for n, p in model.named_parameters()
               if not is_norm_weight(n) and n != "model.embed_tokens.weight")


def lr_at(s, max_lr, min_lr, warmup, max_steps):
    if warmup > 0 and s <= warmup:
        return max_lr * (s + 1) / (warmup + 1)
    if s > max_steps:
        return min_lr
    if max_steps <= warmup:
        return min_lr
    progress = (s - warmup) / (max_steps - warmup)
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model, lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if is_norm_weight(n) else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def set_lr(opt, lr):
    for group in opt.param_groups:
        group["lr"] = lr


def clip_grads(model, max_norm=1.0):
    """Returns the total gradient norm before clipping (a float)."""
    return float(torch.nn.utils.clip_grad_norm_(list(model.parameters()), max_norm))

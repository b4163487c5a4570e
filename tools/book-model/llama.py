"""A Llama (GQA, SwiGLU, RMSNorm, RoPE in Hugging Face's rotate_half layout, tied embeddings)
whose parameter names are transformers' LlamaForCausalLM names, so the saved folder loads there
unchanged (checked by check_hf() after training).

Besides the dense forward it runs LeMo's token elimination with the oracle's choice (LEMO.md 2):
per layer, block scores from the layer's own q and k (ReLU(q·kᵀ/√d) of earlier keys, averaged
over heads, max-pooled per b×b tile, symmetrised, summed per column, as the engine's oracle.ts),
the kept blocks' rows gathered before q/k/v, RoPE at their original positions, causal attention
among kept rows, the output added back at those rows; eliminated rows pass through the residual.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab: int = 8192
    hidden: int = 256
    intermediate: int = 704
    layers: int = 10
    heads: int = 4
    kv_heads: int = 2
    ctx: int = 2048
    rope_theta: float = 10000.0
    eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def hf(self) -> dict:
        """config.json for transformers (LlamaForCausalLM)."""
        return {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": self.vocab,
            "hidden_size": self.hidden, "intermediate_size": self.intermediate, "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads, "num_key_value_heads": self.kv_heads, "head_dim": self.head_dim,
            "hidden_act": "silu", "max_position_embeddings": self.ctx, "initializer_range": 0.02,
            "rms_norm_eps": self.eps, "use_cache": True, "tie_word_embeddings": True,
            "rope_theta": self.rope_theta, "rope_scaling": None, "attention_bias": False, "attention_dropout": 0.0,
            "mlp_bias": False, "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "bfloat16",
        }


class RMSNorm(nn.Module):
    def __init__(self, n: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        dt = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dt)


def rope(x, pos, theta: float, scale: float = 1.0):
    """x (B, H, T, D) at positions pos (T,) or (B, T); rotate_half layout; linear scaling."""
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d))
    f = (pos.float() / scale)[..., None] * inv
    emb = torch.cat([f, f], -1)
    if emb.dim() == 3:
        emb = emb[:, None]
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Attention(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        hd = c.head_dim
        self.q_proj = nn.Linear(c.hidden, c.heads * hd, bias=False)
        self.k_proj = nn.Linear(c.hidden, c.kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(c.hidden, c.kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(c.heads * hd, c.hidden, bias=False)

    def qkv(self, h, pos, scale):
        B, T, _ = h.shape
        c, hd = self.c, self.c.head_dim
        q = self.q_proj(h).view(B, T, c.heads, hd).transpose(1, 2)
        k = self.k_proj(h).view(B, T, c.kv_heads, hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, c.kv_heads, hd).transpose(1, 2)
        return rope(q, pos, c.rope_theta, scale), rope(k, pos, c.rope_theta, scale), v

    def attend(self, q, k, v):
        B, H, T, hd = q.shape
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, H * hd))


class MLP(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden, c.intermediate, bias=False)
        self.up_proj = nn.Linear(c.hidden, c.intermediate, bias=False)
        self.down_proj = nn.Linear(c.intermediate, c.hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden, c.eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden, c.eps)
        self.mlp = MLP(c)


class Inner(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab, c.hidden)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.layers))
        self.norm = RMSNorm(c.hidden, c.eps)


class Llama(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        self.model = Inner(c)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def logits(self, h):
        return F.linear(self.model.norm(h), self.model.embed_tokens.weight)

    def forward(self, ids, scale: float = 1.0):
        """Dense forward: logits (B, T, V)."""
        T = ids.shape[1]
        pos = torch.arange(T, device=ids.device)
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            q, k, v = layer.self_attn.qkv(layer.input_layernorm(x), pos, scale)
            x = x + layer.self_attn.attend(q, k, v)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return self.logits(x)

    def state_dict_hf(self) -> dict:
        return {k: v for k, v in self.state_dict().items()}


def block_scores(q, k, block: int):
    """Oracle block scores (B, NB) of one layer from roped q (B, H, T, D), k (B, KV, T, D)."""
    B, H, T, D = q.shape
    kk = k.repeat_interleave(H // k.shape[1], dim=1)
    nb = math.ceil(T / block)
    tiles = torch.zeros(B, nb, nb, device=q.device)
    idx = torch.arange(T, device=q.device)
    seg = max(block, (2 ** 27) // max(1, B * H * T) // block * block)   # query rows per chunk
    for s in range(0, T, seg):
        e = min(T, s + seg)
        lg = torch.relu((q[:, :, s:e].float() @ kk.float().transpose(-1, -2)) / math.sqrt(D)).mean(1)  # (B, e-s, T)
        lg = lg.masked_fill(idx[None, :] >= idx[s:e, None], 0.0)                                         # earlier keys only
        pad_q = (-(e - s)) % block
        pad_k = (-T) % block
        lg = F.pad(lg, (0, pad_k, 0, pad_q))
        t = lg.view(B, (e - s + pad_q) // block, block, nb, block).amax(dim=(2, 4))
        tiles[:, s // block: s // block + t.shape[1]] = t
    low = torch.tril(tiles)
    sym = low + torch.triu(low.transpose(1, 2), 1)
    return sym.sum(1)


def keep_top(scores, keep: float):
    """Indices (ascending) of the top ceil(keep·NB) blocks of one window's scores (NB,)."""
    nb = scores.numel()
    k = max(1, math.ceil(keep * nb))
    order = sorted(range(nb), key=lambda i: (-float(scores[i]), i))[:k]
    return sorted(order)


@torch.no_grad()
def forward_eliminating(model: Llama, ids, policy, block: int, scale: float = 1.0, stats=None):
    """Forward with the oracle's elimination: policy[l] is None (dense) or a keep ratio.
    With stats (a dict), per-layer block-score statistics of the dense q, k are collected."""
    c = model.c
    B, T = ids.shape
    pos = torch.arange(T, device=ids.device)
    x = model.model.embed_tokens(ids)
    for l, layer in enumerate(model.model.layers):
        att = layer.self_attn
        h = layer.input_layernorm(x)
        keep = policy[l] if policy is not None else None
        if keep is None and stats is None:
            q, k, v = att.qkv(h, pos, scale)
            x = x + att.attend(q, k, v)
        else:
            q, k, v = att.qkv(h, pos, scale)
            sc = block_scores(q, k, block)
            if stats is not None:
                stats.setdefault(l, []).append(score_stats(sc, q, k, block))
            if keep is None:
                x = x + att.attend(q, k, v)
            else:
                out = torch.zeros_like(x)
                for b in range(B):
                    rows = torch.cat([torch.arange(j * block, min(T, (j + 1) * block), device=ids.device)
                                      for j in keep_top(sc[b], keep)])
                    qb, kb, vb = att.qkv(h[b:b + 1, rows], rows, scale)
                    out[b, rows] = att.attend(qb, kb, vb)[0]
                x = x + out
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    return model.logits(x)


def kept_tokens(scores, keep, block: int, T: int):
    """Token mask (B, T) of the top ceil(keep·NB) blocks per row of scores (B, NB), ties broken by
    the lower block index (as keep_top). keep: a float or a 0-d tensor (a tensor keeps the shapes
    independent of the ratio, so torch.compile does not recompile per keep value)."""
    B, nb = scores.shape
    if torch.is_tensor(keep):
        kc = torch.clamp(torch.ceil(keep.to(scores.device, torch.float64) * nb), min=1)
    else:
        kc = max(1, math.ceil(keep * nb))
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices           # (B, NB)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(nb, device=scores.device).expand(B, nb))
    blk = rank < kc                                                                    # (B, NB) bool
    return blk.repeat_interleave(block, dim=1)[:, :T]


def forward_train_eliminating(model: Llama, ids, sparse_layers, keep, block: int, scale: float = 1.0):
    """Differentiable, batched forward with the oracle's elimination (LEMO.md 2), mask-based: the
    same result as forward_eliminating (gather-based) for policy keep in sparse_layers, dense elsewhere.
    keep: a ratio (float or 0-d tensor) for every sparse layer, or a dict {layer: ratio}.
    In a sparse layer: block scores from the layer's own roped q, k (no gradient through the
    selection), kept (B, T) from the top blocks; key j visible to query i iff j <= i and kept[j]
    (plus i itself, so eliminated rows never see an empty row); the attention output of eliminated
    rows is zeroed, so they pass the attention block unchanged through the residual. RoPE positions
    are the original ones. The MLP runs on every token."""
    c = model.c
    B, T = ids.shape
    dev = ids.device
    pos = torch.arange(T, device=dev)
    sparse = set(sparse_layers or [])
    idx = torch.arange(T, device=dev)
    causal = idx[None, :] <= idx[:, None]                                              # (T, T) [i, j]
    eye = idx[None, :] == idx[:, None]
    rep = c.heads // c.kv_heads
    x = model.model.embed_tokens(ids)
    for l, layer in enumerate(model.model.layers):
        att = layer.self_attn
        q, k, v = att.qkv(layer.input_layernorm(x), pos, scale)
        kl = (keep.get(l) if isinstance(keep, dict) else keep) if l in sparse else None
        if kl is None:
            x = x + att.attend(q, k, v)
        else:
            with torch.no_grad():
                kept = kept_tokens(block_scores(q.detach(), k.detach(), block), kl, block, T)   # (B, T)
                mask = (causal[None] & kept[:, None, :]) | eye[None]                         # (B, T, T)
            o = F.scaled_dot_product_attention(q, k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1),
                                               attn_mask=mask[:, None])
            o = o * kept[:, None, :, None].to(o.dtype)                                       # eliminated rows: 0
            x = x + att.o_proj(o.transpose(1, 2).reshape(B, T, c.heads * c.head_dim))
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    return model.logits(x)


def score_stats(sc, q, k, block: int, keep: float = 0.4) -> dict:
    """Coefficient of variation, share of the score in the top 40% of blocks, and the softmax
    mass (averaged over heads and queries) that lands on those blocks' keys."""
    B, H, T, D = q.shape
    kk = k.repeat_interleave(H // k.shape[1], dim=1)
    cvs, shares, masses = [], [], []
    for b in range(B):
        s = sc[b].double()
        cvs.append(float(s.std(unbiased=False) / s.mean()))
        kept = keep_top(s, keep)
        shares.append(float(s[kept].sum() / s.sum()))
        mask = torch.zeros(T, dtype=torch.bool, device=q.device)
        for j in kept:
            mask[j * block:(j + 1) * block] = True
        mass, n = 0.0, 0
        for s0 in range(0, T, 512):
            e = min(T, s0 + 512)
            lg = (q[b:b + 1, :, s0:e].float() @ kk[b:b + 1].float().transpose(-1, -2)) / math.sqrt(D)
            causal = torch.arange(T, device=q.device)[None, :] <= torch.arange(s0, e, device=q.device)[:, None]
            p = torch.softmax(lg.masked_fill(~causal, float("-inf")), -1)
            mass += float(p[..., mask].sum()) / H
            n += e - s0
        masses.append(mass / n)
    return {"cv": sum(cvs) / B, "top40_share": sum(shares) / B, "top40_softmax_mass": sum(masses) / B}


def save_hf(model: Llama, out, extra_config: dict | None = None, dtype=torch.bfloat16) -> None:
    import json
    from pathlib import Path
    from safetensors.torch import save_file
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    cfg = model.c.hf()
    if dtype != torch.bfloat16:
        cfg["torch_dtype"] = str(dtype).replace("torch.", "")
    cfg.update(extra_config or {})
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}, indent=2) + "\n")


def config_dict(c: Config) -> dict:
    return asdict(c)

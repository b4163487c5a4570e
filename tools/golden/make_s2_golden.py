#!/usr/bin/env python3
"""Golden reference fixtures for shifted sparse attention (S2-Attn, LongLoRA), alone and with
LeMo token elimination.

Writes test/fixtures/golden-s2/<case>/ (needs test/fixtures/golden/ from make_golden.py; the
model, adapter and helpers are reused, by path, as in make_sparse_golden.py).

Semantics of S2-Attn with group size G (even) over a window of T tokens (a multiple of G):
  * every layer's attention is causal AND stays inside a group of G consecutive ORIGINAL
    positions;
  * query heads 0 .. H/2-1: the group of a token at original position p is floor(p / G);
  * query heads H/2 .. H-1 (shifted): its group is floor((p + G/2) / G), so the first G/2
    tokens form a group of their own and every later group straddles two unshifted groups.
    This is LongLoRA's shift WITHOUT its wrap-around: LongLoRA rolls the shifted heads by
    -G/2, which puts the first G/2 tokens at the end of the last group, where under a causal
    mask they would see future tokens. Here nothing wraps;
  * with GQA, the KV heads are repeated to the query heads first (HF's repeat_kv), and the
    groups are defined on query heads;
  * with token elimination (keep.json, as make_sparse_golden.py), the kept tokens of a layer
    attend among themselves, causal and inside their (shifted) groups by their ORIGINAL
    positions (not their packed index).
Everything else (RoPE at original positions, MLP on every token, loss) is make_sparse_golden's.

Checked before writing (float64): the S2 forward equals an independent reshape formulation
(dense case: unshifted heads as T/G separate causal windows; shifted heads as windows over the
sequence padded by G/2 dummy tokens in front, the dummies masked), the gather formulation
equals a mask-based one (sparse case), and S2 differs from full attention.

Usage: python3 tools/golden/make_s2_golden.py [--out DIR] [--cases a,b,...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import make_golden as mg  # noqa: E402
import make_sparse_golden as msg  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "test" / "fixtures" / "golden-s2"
GOLDEN = "test/fixtures/golden"

CASES: dict[str, dict] = {
    "llama-gqa-s2": dict(seed=3001, source="llama-gqa", seq_len=48, group=16, keep=None),
    "llama-gqa-s2-sparse": dict(
        seed=3002, source="llama-gqa", seq_len=48, group=16,
        keep={"block": 8, "layers": [[0, 2, 3, 5], [1, 2, 4, 5]]},
    ),
    "llama-gqa-s2-mixed": dict(
        seed=3003, source="llama-gqa", seq_len=64, group=8,
        keep={"block": 4, "layers": [None, [0, 3, 4, 5, 9, 14, 15]]},
    ),
}


def groups(pos: torch.Tensor, nh: int, G: int) -> torch.Tensor:
    """(nh, n) group id of each position per query head; the second half of the heads shifted by G/2."""
    shift = torch.tensor([0 if h < nh // 2 else G // 2 for h in range(nh)], dtype=pos.dtype)
    return torch.div(pos[None, :] + shift[:, None], G, rounding_mode="floor")


def s2_attention(q, k, v, qpos, kpos, G, scale, row_fallback=False):
    """q (B, H, n, d), k/v (B, H, m, d) (kv heads repeated): causal on positions and inside
    each head's group."""
    nh = q.shape[1]
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    causal = kpos[None, :] <= qpos[:, None]
    qg, kg = groups(qpos, nh, G), groups(kpos.clamp(max=qpos.max().item() + G), nh, G)
    allowed = causal[None] & (qg[:, :, None] == kg[:, None, :])
    if row_fallback:
        allowed = allowed | torch.eye(allowed.shape[-1], dtype=torch.bool)[None]
    scores = scores.masked_fill(~allowed[None], float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def reshape_attention(q, k, v, G, scale):
    """Independent formulation of dense S2 (every token kept): windows of G tokens."""
    B, nh, T, d = q.shape
    half = nh // 2
    tri = torch.ones(G, G, dtype=torch.bool).tril()

    def windows(q, k, v, pad):
        if pad:
            z = torch.zeros(B, q.shape[1], pad, d, dtype=q.dtype)
            q, k, v = (torch.cat([z, t, z[:, :, : G - pad]], dim=2) for t in (q, k, v))
        n = q.shape[2] // G
        qw, kw, vw = (t.reshape(B, t.shape[1], n, G, d) for t in (q, k, v))
        s = torch.matmul(qw, kw.transpose(-1, -2)) * scale
        allowed = tri.expand(n, G, G).clone()
        if pad:  # the dummy keys in front of the first window and after the last are masked
            allowed[0, :, :pad] = False
            allowed[0, torch.arange(pad), torch.arange(pad)] = True
        s = s.masked_fill(~allowed, float("-inf"))
        o = torch.matmul(torch.softmax(s, dim=-1), vw).reshape(B, q.shape[1], n * G, d)
        return o[:, :, pad: pad + T] if pad else o

    return torch.cat([windows(q[:, :half], k[:, :half], v[:, :half], 0),
                      windows(q[:, half:], k[:, half:], v[:, half:], G // 2)], dim=1)


def attn_llama_s2(w, layer: int, h, pos, G: int, kmask=None, reshape=False):
    cfg = w.cfg
    p = f"model.layers.{layer}"
    nh, nkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, msg.head_dim(cfg)
    B, n, _ = h.shape
    x = msg.rms_norm(h, w.base[p + ".input_layernorm.weight"], cfg.rms_norm_eps)
    q = msg.lora_linear(w, p + ".self_attn.q_proj", x).view(B, n, nh, d).transpose(1, 2)
    k = msg.lora_linear(w, p + ".self_attn.k_proj", x).view(B, n, nkv, d).transpose(1, 2)
    v = msg.lora_linear(w, p + ".self_attn.v_proj", x).view(B, n, nkv, d).transpose(1, 2)
    cos, sin = msg.rope_cos_sin(cfg, pos, w.dtype)
    q = q * cos + msg.rotate_half(q) * sin
    k = k * cos + msg.rotate_half(k) * sin
    k = k.repeat_interleave(nh // nkv, dim=1)  # repeat_kv before any masking
    v = v.repeat_interleave(nh // nkv, dim=1)
    if reshape:
        o = reshape_attention(q, k, v, G, d ** -0.5)
    else:
        kpos = pos if kmask is None else torch.where(kmask, pos, torch.iinfo(pos.dtype).max)
        o = s2_attention(q, k, v, pos, kpos, G, d ** -0.5, row_fallback=kmask is not None)
    o = o.transpose(1, 2).reshape(B, n, nh * d)
    return msg.lora_linear(w, p + ".self_attn.o_proj", o)


def forward_loss(w, ids, keep, G, mode="gather"):
    cfg = w.cfg
    assert w.arch != "gpt2"
    B, T = ids.shape
    all_pos = torch.arange(T, dtype=torch.long)
    h = F.embedding(ids, w.base["model.embed_tokens.weight"])
    n_layers = cfg.num_hidden_layers
    layers = keep["layers"] if keep is not None else [None] * n_layers
    for layer in range(n_layers):
        blocks = layers[layer]
        if blocks is None:
            h1 = h + attn_llama_s2(w, layer, h, all_pos, G, reshape=(mode == "reshape"))
        else:
            S = msg.kept_positions(blocks, keep["block"], T)
            if mode == "mask":
                kmask = torch.zeros(T, dtype=torch.bool)
                kmask[S] = True
                o = attn_llama_s2(w, layer, h, all_pos, G, kmask=kmask)
                h1 = h + o * kmask[None, :, None].to(o.dtype)
            else:
                h1 = h.index_add(1, S, attn_llama_s2(w, layer, h.index_select(1, S), S, G))
        h = h1 + msg.mlp_llama(w, layer, h1)
    h = msg.rms_norm(h, w.base["model.norm.weight"], cfg.rms_norm_eps)
    logits = F.linear(h, w.base["lm_head.weight"])
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1, :].reshape(-1, V), ids[:, 1:].reshape(-1))


def loss_and_grads(w, ids, keep, G, mode="gather"):
    w.zero_grads()
    loss = forward_loss(w, ids, keep, G, mode)
    names = sorted(w.leaves)
    grads = torch.autograd.grad(loss, [w.leaves[n] for n in names])
    return loss.detach(), {n: g.detach() for n, g in zip(names, grads)}


def make_case(name: str, spec: dict, out_root: Path) -> dict:
    src, keep, T, G = spec["source"], spec["keep"], spec["seq_len"], spec["group"]
    model_rel, adapter_rel = f"{GOLDEN}/{src}/model", f"{GOLDEN}/{src}/adapter"
    w64 = msg.Weights(REPO_ROOT / model_rel, REPO_ROOT / adapter_rel, torch.float64)
    w32 = msg.Weights(REPO_ROOT / model_rel, REPO_ROOT / adapter_rel, torch.float32)
    cfg = w64.cfg
    msg.check(G % 2 == 0 and T % G == 0 and cfg.num_attention_heads % 2 == 0, "bad group")
    if keep is not None:
        msg.validate_keep(keep, cfg.num_hidden_layers, T)
    gen = torch.Generator().manual_seed(spec["seed"])
    ids = torch.randint(0, cfg.vocab_size, (1, T), generator=gen, dtype=torch.long)

    loss64, grads64 = loss_and_grads(w64, ids, keep, G)
    loss32, grads32 = loss_and_grads(w32, ids, keep, G)
    full64, _ = msg.loss_and_grads(w64, ids, keep)
    checks = {"s2_vs_full_f64_loss": msg.rel(loss64.item(), full64.item())}
    msg.check(checks["s2_vs_full_f64_loss"] > 1e-4, f"{name}: S2 changed nothing")
    other = "reshape" if keep is None else "mask"
    o_loss, o_grads = loss_and_grads(w64, ids, keep, G, other)
    checks[f"gather_vs_{other}_f64_loss"] = msg.rel(loss64.item(), o_loss.item())
    checks[f"gather_vs_{other}_f64_grads_max"] = msg.max_grad_err(grads64, o_grads)
    msg.check(checks[f"gather_vs_{other}_f64_loss"] < 1e-10 and checks[f"gather_vs_{other}_f64_grads_max"] < 1e-10,
              f"{name}: formulations disagree: {checks}")
    for k, g in grads64.items():
        msg.check(torch.count_nonzero(g).item() > 0, f"{name}: zero gradient for {k}")

    case_dir = out_root / name
    if case_dir.exists():
        shutil.rmtree(case_dir)
    case_dir.mkdir(parents=True)
    mg.write_json(case_dir / "source.json", {"model": model_rel, "adapter": adapter_rel})
    (case_dir / "tokens.json").write_text(json.dumps({"input_ids": ids.tolist()}) + "\n")
    if keep is not None:
        (case_dir / "keep.json").write_text(json.dumps(keep) + "\n")
    save_file({k: grads64[k].to(torch.float32).contiguous() for k in sorted(grads64)},
              str(case_dir / "grads.safetensors"), metadata={"format": "pt"})
    expected = {
        "case": name, "source": src, "batch": 1, "seq_len": T, "group": G,
        "loss": loss64.item(), "full_attention_loss": full64.item(),
        "f64_vs_f32": {"loss_rel_err": msg.rel(loss32.item(), loss64.item()),
                       "grads_max_rel_err": msg.max_grad_err(grads32, grads64)},
        "checks": checks,
        "notes": ("loss: S2-Attn forward (group G, second half of the query heads shifted by G/2, no "
                  "wrap-around) with keep.json's token elimination when present, true float64; "
                  "grads.safetensors: its LoRA gradients rounded to float32; full_attention_loss: the "
                  "same with full causal attention."),
        "versions": mg.versions(),
    }
    mg.write_json(case_dir / "expected.json", expected)
    return expected


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cases", default="all")
    args = ap.parse_args()
    mg.setup_determinism()
    names = list(CASES) if args.cases == "all" else args.cases.split(",")
    for n in names:
        if n not in CASES:
            print(f"unknown case {n!r}; known: {', '.join(CASES)}", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for n in names:
        e = make_case(n, CASES[n], args.out)
        print(f"{n}: loss={e['loss']:.9f} full={e['full_attention_loss']:.9f} checks={e['checks']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

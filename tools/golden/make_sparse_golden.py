#!/usr/bin/env python3
"""Golden reference fixtures for LeMo's sparse (token-eliminating) layers.

Writes test/fixtures/golden-sparse/<case>/ for every case in CASES.  Each case
reuses the model and adapter of an existing golden case (make_golden.py's
output, referenced by path in source.json, nothing is copied) with new seeded
tokens and a per-layer keep list.  Output is byte-identical from run to run on
the same software versions.

Per case:
  source.json         {"model": <repo-relative dir>, "adapter": <repo-relative dir>}
  tokens.json         {"input_ids": [[...]]}
  keep.json           {"block": b, "layers": [null | [kept block indices], ...]}
  expected.json       loss (float64 reference), dense_loss, f64_vs_f32 gaps, checks, ...
  grads.safetensors   d loss / d every LoRA tensor (PEFT names), float32 (float64 run, rounded)

Semantics (LeMo, see ../shared/LEMO.md section 2 and README.md): in a layer with
a keep list, the attention sub-block only sees the kept tokens S (union of the
kept blocks, ascending): x = norm1(h[S]); q/k/v (+LoRA) of x; RoPE at the
ORIGINAL positions S; causal attention among kept tokens (position_j <= position_i);
o_proj (+LoRA); h1 = h, h1[S] += o.  The MLP runs on every token:
out = h1 + MLP(norm2(h1)).  `null` = ordinary dense layer.  Loss = HF causal-LM
loss (mean over the T-1 shifted positions).

The reference is an independent functional forward (weights read from the HF
model, LoRA applied from the adapter tensors: y += (x A^T B^T) * alpha/r).  It is
verified before anything is written:
  * all layers dense, float32: loss and LoRA gradients equal the PEFT model's
    model(input_ids, labels=input_ids) to rel. err < 1e-5;
  * all layers dense, float64: equal a true-float64 PEFT run (make_golden's
    true_float64 patch) to rel. err < 1e-10;
  * float32 RoPE cos/sin at the kept positions are bit-equal to HF's rotary_emb;
  * the sparse path (gather kept rows) equals a second, mask-based formulation
    (full-length attention, eliminated keys masked, eliminated rows' output
    zeroed) to rel. err < 1e-10 in float64;
  * llama-gqa-allkept: loss and gradients equal the dense ones.

Usage: python3 tools/golden/make_sparse_golden.py [--out DIR] [--cases a,b,...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path

# Same environment as make_golden.py (which we import for the HF-side checks;
# it re-execs itself with PYTHONHASHSEED=0 at import time otherwise).
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

import make_golden as mg  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "test" / "fixtures" / "golden-sparse"
GOLDEN = "test/fixtures/golden"

CASES: dict[str, dict] = {
    "llama-gqa-sparse": dict(
        seed=2001, source="llama-gqa", seq_len=45,
        keep={"block": 8, "layers": [None, [1, 3, 5]]},
    ),
    "llama-tied-sparse": dict(
        seed=2002, source="llama-tied-scaled-mlp", seq_len=64,
        keep={"block": 8, "layers": [[0, 1, 4, 7], None, [2, 3, 6]]},
    ),
    "qwen2-sparse": dict(
        seed=2003, source="qwen2", seq_len=40,
        keep={"block": 4, "layers": [[0, 2, 3, 9], [5, 6, 7, 8, 9]]},
    ),
    "gpt2-sparse": dict(
        seed=2004, source="gpt2-mlp", seq_len=48,
        keep={"block": 8, "layers": [None, [0, 5], [1, 2, 3]]},
    ),
    "llama-gqa-allkept": dict(
        seed=2005, source="llama-gqa", seq_len=45,
        keep={"block": 8, "layers": [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]]},
    ),
}

# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


class Weights:
    """Base weights (from the HF model) and LoRA tensors (from the adapter file)."""

    def __init__(self, model_dir: Path, adapter_dir: Path, dtype: torch.dtype):
        model = AutoModelForCausalLM.from_pretrained(
            str(model_dir), dtype=dtype, attn_implementation="eager")
        model.eval()
        self.hf = model
        self.cfg = model.config
        self.arch = self.cfg.model_type
        self.dtype = dtype
        self.base = {k: v.detach().clone() for k, v in model.named_parameters()}
        # tied embeddings are one Parameter: named_parameters lists it once
        self.base["lm_head.weight"] = model.get_output_embeddings().weight.detach().clone()

        acfg = json.loads((adapter_dir / "adapter_config.json").read_text())
        for key in ("rank_pattern", "alpha_pattern"):
            assert not acfg.get(key), f"{key} not supported"
        assert not acfg.get("use_rslora") and not acfg.get("use_dora"), "rslora/dora not supported"
        assert acfg.get("bias", "none") == "none" and not acfg.get("lora_bias")
        self.scaling = acfg["lora_alpha"] / acfg["r"]

        self.saved = load_file(str(adapter_dir / "adapter_model.safetensors"))
        self.lora: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.leaves: dict[str, torch.Tensor] = {}  # PEFT name -> leaf tensor
        prefix = "base_model.model."
        for name in sorted(self.saved):
            assert name.startswith(prefix) and name.endswith((".lora_A.weight", ".lora_B.weight")), name
            self.leaves[name] = self.saved[name].to(dtype).clone().requires_grad_(True)
        for name in self.leaves:
            if name.endswith(".lora_A.weight"):
                module = name[len(prefix):-len(".lora_A.weight")]
                b_name = name.replace(".lora_A.weight", ".lora_B.weight")
                self.lora[module] = (self.leaves[name], self.leaves[b_name])

    def zero_grads(self) -> None:
        for t in self.leaves.values():
            t.grad = None


# --------------------------------------------------------------------------
# The functional forward
# --------------------------------------------------------------------------


def lora_linear(w: Weights, module: str, x: torch.Tensor) -> torch.Tensor:
    """nn.Linear (+ PEFT LoRA): y = x W^T + b + (x A^T) B^T * alpha/r."""
    y = F.linear(x, w.base[module + ".weight"], w.base.get(module + ".bias"))
    if module in w.lora:
        a, b = w.lora[module]
        y = y + F.linear(F.linear(x, a), b) * w.scaling
    return y


def lora_conv1d(w: Weights, module: str, x: torch.Tensor) -> torch.Tensor:
    """GPT-2 Conv1D (weight stored (in, out)): y = x W + b.  PEFT's LoRA layer for
    Conv1D (fan_in_fan_out=True) applies lora_A (r, in) / lora_B (out, r) as plain
    Linear layers, so the delta is the same (x A^T) B^T * alpha/r."""
    y = torch.addmm(w.base[module + ".bias"], x.reshape(-1, x.shape[-1]), w.base[module + ".weight"])
    y = y.view(*x.shape[:-1], -1)
    if module in w.lora:
        a, b = w.lora[module]
        y = y + F.linear(F.linear(x, a), b) * w.scaling
    return y


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # HF: computed in float32 for a float32 model (a no-op cast here), float64 stays float64.
    var = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(var + eps))


def rope_inv_freq(cfg, dtype: torch.dtype) -> torch.Tensor:
    rp = cfg.rope_parameters
    rope_type = rp.get("rope_type", "default")
    assert rope_type in ("default", "linear"), rope_type
    assert rp.get("partial_rotary_factor", 1.0) == 1.0
    dim = head_dim(cfg)
    # HF builds arange as int64 and converts (to float32); float64 for the true-f64 run.
    inv = 1.0 / (float(rp["rope_theta"]) ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype) / dim))
    if rope_type == "linear":
        inv = inv / float(rp["factor"])
    return inv


def rope_cos_sin(cfg, pos: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin (n, head_dim) at the given ORIGINAL positions.  float32: exactly HF's
    (float32 inv_freq x float32 positions); float64: everything in float64."""
    inv = rope_inv_freq(cfg, dtype)
    freqs = pos.to(dtype)[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()  # attention_scaling is 1.0 for default/linear


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def head_dim(cfg) -> int:
    return getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads


def attention(q, k, v, qpos, kpos, scale, row_fallback=False):
    """q (B, H, n, d), k/v (B, H, m, d) (kv heads already repeated), causal on positions:
    query i may attend key j iff kpos[j] <= qpos[i].  Fully masked rows (only in the
    mask-based cross-check) attend their own position; their output is discarded."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    allowed = kpos[None, :] <= qpos[:, None]
    if row_fallback:
        allowed = allowed | torch.eye(allowed.shape[0], dtype=torch.bool)
    scores = scores.masked_fill(~allowed, float("-inf"))
    p = torch.softmax(scores, dim=-1)
    return torch.matmul(p, v)


def attn_llama(w: Weights, layer: int, h: torch.Tensor, pos: torch.Tensor, kmask=None) -> torch.Tensor:
    """Attention sub-block of a Llama/Qwen2 layer on rows h (B, n, C) at positions pos.
    kmask (mask-based cross-check only): bool (n,), keys allowed."""
    cfg = w.cfg
    p = f"model.layers.{layer}"
    nh, nkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, head_dim(cfg)
    B, n, _ = h.shape
    x = rms_norm(h, w.base[p + ".input_layernorm.weight"], cfg.rms_norm_eps)
    q = lora_linear(w, p + ".self_attn.q_proj", x).view(B, n, nh, d).transpose(1, 2)
    k = lora_linear(w, p + ".self_attn.k_proj", x).view(B, n, nkv, d).transpose(1, 2)
    v = lora_linear(w, p + ".self_attn.v_proj", x).view(B, n, nkv, d).transpose(1, 2)
    cos, sin = rope_cos_sin(cfg, pos, w.dtype)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    # GQA as HF's repeat_kv: query head i uses kv head i // (nh // nkv)
    k = k.repeat_interleave(nh // nkv, dim=1)
    v = v.repeat_interleave(nh // nkv, dim=1)
    kpos = pos if kmask is None else torch.where(kmask, pos, torch.iinfo(pos.dtype).max)
    o = attention(q, k, v, pos, kpos, d ** -0.5, row_fallback=kmask is not None)
    o = o.transpose(1, 2).reshape(B, n, nh * d)
    return lora_linear(w, p + ".self_attn.o_proj", o)


def mlp_llama(w: Weights, layer: int, h: torch.Tensor) -> torch.Tensor:
    cfg = w.cfg
    assert cfg.hidden_act == "silu"
    p = f"model.layers.{layer}"
    x = rms_norm(h, w.base[p + ".post_attention_layernorm.weight"], cfg.rms_norm_eps)
    g = lora_linear(w, p + ".mlp.gate_proj", x)
    u = lora_linear(w, p + ".mlp.up_proj", x)
    return lora_linear(w, p + ".mlp.down_proj", F.silu(g) * u)


def gelu_new(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def attn_gpt2(w: Weights, layer: int, h: torch.Tensor, pos: torch.Tensor, kmask=None) -> torch.Tensor:
    cfg = w.cfg
    assert cfg.scale_attn_weights and not cfg.scale_attn_by_inverse_layer_idx
    assert not cfg.reorder_and_upcast_attn
    p = f"transformer.h.{layer}"
    C, nh = cfg.n_embd, cfg.n_head
    d = C // nh
    B, n, _ = h.shape
    x = F.layer_norm(h, (C,), w.base[p + ".ln_1.weight"], w.base[p + ".ln_1.bias"], cfg.layer_norm_epsilon)
    q, k, v = lora_conv1d(w, p + ".attn.c_attn", x).split(C, dim=2)
    q, k, v = (t.reshape(B, n, nh, d).transpose(1, 2) for t in (q, k, v))
    kpos = pos if kmask is None else torch.where(kmask, pos, torch.iinfo(pos.dtype).max)
    o = attention(q, k, v, pos, kpos, d ** -0.5, row_fallback=kmask is not None)
    o = o.transpose(1, 2).reshape(B, n, C)
    return lora_conv1d(w, p + ".attn.c_proj", o)


def mlp_gpt2(w: Weights, layer: int, h: torch.Tensor) -> torch.Tensor:
    cfg = w.cfg
    assert cfg.activation_function == "gelu_new"
    p = f"transformer.h.{layer}"
    C = cfg.n_embd
    x = F.layer_norm(h, (C,), w.base[p + ".ln_2.weight"], w.base[p + ".ln_2.bias"], cfg.layer_norm_epsilon)
    return lora_conv1d(w, p + ".mlp.c_proj", gelu_new(lora_conv1d(w, p + ".mlp.c_fc", x)))


def kept_positions(blocks: list[int], block: int, T: int) -> torch.Tensor:
    """Union of the kept blocks' positions, ascending (block j = [j*b, min((j+1)*b, T)))."""
    pos: list[int] = []
    for j in sorted(set(blocks)):
        pos.extend(range(j * block, min((j + 1) * block, T)))
    return torch.tensor(pos, dtype=torch.long)


def forward_loss(w: Weights, ids: torch.Tensor, keep: dict | None, mode: str = "gather") -> torch.Tensor:
    """Loss of the model with LeMo token elimination.  keep=None: all layers dense.
    mode="gather": kept rows are gathered, attended, and added back at their rows
    (the reference).  mode="mask": full-length attention with eliminated keys masked
    and eliminated rows' output zeroed (an independent formulation, for checking)."""
    cfg = w.cfg
    B, T = ids.shape
    all_pos = torch.arange(T, dtype=torch.long)
    if w.arch == "gpt2":
        h = F.embedding(ids, w.base["transformer.wte.weight"]) + F.embedding(all_pos, w.base["transformer.wpe.weight"])[None]
        attn_fn, mlp_fn, n_layers = attn_gpt2, mlp_gpt2, cfg.n_layer
    else:
        h = F.embedding(ids, w.base["model.embed_tokens.weight"])
        attn_fn, mlp_fn, n_layers = attn_llama, mlp_llama, cfg.num_hidden_layers
    layers = keep["layers"] if keep is not None else [None] * n_layers
    assert len(layers) == n_layers, (len(layers), n_layers)

    for layer in range(n_layers):
        blocks = layers[layer]
        if blocks is None:
            h1 = h + attn_fn(w, layer, h, all_pos)
        else:
            S = kept_positions(blocks, keep["block"], T)
            if mode == "gather":
                o = attn_fn(w, layer, h.index_select(1, S), S)
                h1 = h.index_add(1, S, o)
            else:
                kmask = torch.zeros(T, dtype=torch.bool)
                kmask[S] = True
                o = attn_fn(w, layer, h, all_pos, kmask=kmask)
                h1 = h + o * kmask[None, :, None].to(o.dtype)
        h = h1 + mlp_fn(w, layer, h1)

    if w.arch == "gpt2":
        h = F.layer_norm(h, (cfg.n_embd,), w.base["transformer.ln_f.weight"], w.base["transformer.ln_f.bias"],
                         cfg.layer_norm_epsilon)
    else:
        h = rms_norm(h, w.base["model.norm.weight"], cfg.rms_norm_eps)
    logits = F.linear(h, w.base["lm_head.weight"])
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1, :].reshape(-1, V), ids[:, 1:].reshape(-1))


def loss_and_grads(w: Weights, ids, keep, mode="gather"):
    w.zero_grads()
    loss = forward_loss(w, ids, keep, mode)
    names = sorted(w.leaves)
    grads = torch.autograd.grad(loss, [w.leaves[n] for n in names])
    return loss.detach(), {n: g.detach() for n, g in zip(names, grads)}


# --------------------------------------------------------------------------
# One case
# --------------------------------------------------------------------------


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def max_grad_err(ga: dict, gb: dict) -> float:
    assert set(ga) == set(gb), (sorted(ga), sorted(gb))
    return max(mg.rel_err(ga[k], gb[k]) for k in ga)


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def validate_keep(keep: dict, n_layers: int, T: int) -> None:
    b = keep["block"]
    n_blocks = -(-T // b)
    check(isinstance(b, int) and b > 0, "block must be a positive int")
    check(len(keep["layers"]) == n_layers, "one keep entry per layer")
    for entry in keep["layers"]:
        if entry is None:
            continue
        check(len(entry) > 0, "empty keep list")
        check(entry == sorted(set(entry)), f"keep list not ascending/unique: {entry}")
        check(all(0 <= j < n_blocks for j in entry), f"block index out of range: {entry} (blocks {n_blocks})")


def make_case(name: str, spec: dict, out_root: Path) -> dict:
    src = spec["source"]
    model_rel = f"{GOLDEN}/{src}/model"
    adapter_rel = f"{GOLDEN}/{src}/adapter"
    model_dir, adapter_dir = REPO_ROOT / model_rel, REPO_ROOT / adapter_rel
    keep, T = spec["keep"], spec["seq_len"]

    w32 = Weights(model_dir, adapter_dir, torch.float32)
    w64 = Weights(model_dir, adapter_dir, torch.float64)
    cfg = w32.cfg
    n_layers = cfg.n_layer if w32.arch == "gpt2" else cfg.num_hidden_layers
    validate_keep(keep, n_layers, T)
    max_pos = cfg.n_positions if w32.arch == "gpt2" else cfg.max_position_embeddings
    check(T <= max_pos, "sequence longer than the model's positions")

    gen = torch.Generator().manual_seed(spec["seed"])
    ids = torch.randint(0, cfg.vocab_size, (1, T), generator=gen, dtype=torch.long)

    # --- 1. dense functional forward == PEFT model (float32 and true float64) ---
    pm32 = mg.load_peft(model_dir, adapter_dir, torch.float32)
    hf_loss32, _, hf_grads32 = mg.run_reference(pm32, ids, f64=False)
    pm64 = mg.load_peft(model_dir, adapter_dir, torch.float64)
    hf_loss64, _, hf_grads64 = mg.run_reference(pm64, ids, f64=True)
    check(set(hf_grads32) == set(w32.leaves), "LoRA tensor names differ from the PEFT model's")

    d_loss32, d_grads32 = loss_and_grads(w32, ids, None)
    d_loss64, d_grads64 = loss_and_grads(w64, ids, None)
    checks = {
        "dense_f32_vs_hf_f32_loss": rel(d_loss32.item(), hf_loss32.item()),
        "dense_f32_vs_hf_f32_grads_max": max_grad_err(d_grads32, hf_grads32),
        "dense_f64_vs_hf_true_f64_loss": rel(d_loss64.item(), hf_loss64.item()),
        "dense_f64_vs_hf_true_f64_grads_max": max_grad_err(d_grads64, hf_grads64),
    }
    check(checks["dense_f32_vs_hf_f32_loss"] < 1e-5 and checks["dense_f32_vs_hf_f32_grads_max"] < 1e-5,
          f"{name}: dense float32 forward does not match PEFT: {checks}")
    check(checks["dense_f64_vs_hf_true_f64_loss"] < 1e-10 and checks["dense_f64_vs_hf_true_f64_grads_max"] < 1e-10,
          f"{name}: dense float64 forward does not match PEFT: {checks}")

    # --- 2. float32 RoPE at the kept positions is bit-equal to HF's -------------
    if w32.arch != "gpt2":
        rot = w32.hf.model.rotary_emb
        check(torch.equal(rope_inv_freq(cfg, torch.float32), rot.inv_freq), f"{name}: inv_freq differs from HF")
        for blocks in keep["layers"]:
            if blocks is None:
                continue
            S = kept_positions(blocks, keep["block"], T)
            hf_cos, hf_sin = rot(torch.zeros(1, dtype=torch.float32), S[None])
            cos, sin = rope_cos_sin(cfg, S, torch.float32)
            check(torch.equal(cos, hf_cos[0]) and torch.equal(sin, hf_sin[0]), f"{name}: RoPE cos/sin differ from HF")

    # --- 3. the sparse reference (float64) and its float32 twin -----------------
    loss64, grads64 = loss_and_grads(w64, ids, keep, "gather")
    loss32, grads32 = loss_and_grads(w32, ids, keep, "gather")
    m_loss64, m_grads64 = loss_and_grads(w64, ids, keep, "mask")
    checks["gather_vs_mask_f64_loss"] = rel(loss64.item(), m_loss64.item())
    checks["gather_vs_mask_f64_grads_max"] = max_grad_err(grads64, m_grads64)
    check(checks["gather_vs_mask_f64_loss"] < 1e-10 and checks["gather_vs_mask_f64_grads_max"] < 1e-10,
          f"{name}: gather and mask formulations disagree: {checks}")
    all_kept = all(
        b is not None and len(kept_positions(b, keep["block"], T)) == T for b in keep["layers"])
    checks["sparse_vs_dense_f64_loss"] = rel(loss64.item(), d_loss64.item())
    checks["sparse_vs_dense_f64_grads_max"] = max_grad_err(grads64, d_grads64)
    if all_kept:
        check(checks["sparse_vs_dense_f64_loss"] < 1e-12 and checks["sparse_vs_dense_f64_grads_max"] < 1e-12,
              f"{name}: every block kept but the loss differs from dense: {checks}")
    else:
        check(checks["sparse_vs_dense_f64_loss"] > 1e-4, f"{name}: elimination changed nothing")
    for k, g in grads64.items():
        check(torch.count_nonzero(g).item() > 0, f"{name}: zero gradient for {k}")
        check(g.shape == w32.saved[k].shape, k)

    # --- write ------------------------------------------------------------------
    case_dir = out_root / name
    if case_dir.exists():
        shutil.rmtree(case_dir)
    case_dir.mkdir(parents=True)
    mg.write_json(case_dir / "source.json", {"model": model_rel, "adapter": adapter_rel})
    (case_dir / "tokens.json").write_text(json.dumps({"input_ids": ids.tolist()}) + "\n")
    (case_dir / "keep.json").write_text(json.dumps(keep) + "\n")
    save_file({k: grads64[k].to(torch.float32).contiguous() for k in sorted(grads64)},
              str(case_dir / "grads.safetensors"), metadata={"format": "pt"})

    grad_gap = {k: mg.rel_err(grads32[k], grads64[k]) for k in grads64}
    kept_counts = [None if b is None else int(len(kept_positions(b, keep["block"], T))) for b in keep["layers"]]
    expected = {
        "case": name,
        "source": src,
        "model_type": cfg.model_type,
        "batch": 1,
        "seq_len": T,
        "block": keep["block"],
        "num_blocks": -(-T // keep["block"]),
        "kept_tokens_per_layer": kept_counts,
        "loss": loss64.item(),
        "dense_loss": hf_loss64.item(),
        "dense_loss_f32": hf_loss32.item(),
        "f64_vs_f32": {
            "loss_f32": loss32.item(),
            "loss_rel_err": rel(loss32.item(), loss64.item()),
            "grads_max_rel_err": max(grad_gap.values()),
            "dense_loss_rel_err": rel(hf_loss32.item(), hf_loss64.item()),
        },
        "checks": checks,
        "lora": {"scaling": w32.scaling, "num_tensors": len(grads64)},
        "grad_norms": {k: torch.linalg.vector_norm(grads64[k]).item() for k in sorted(grads64)},
        "seed": spec["seed"],
        "notes": (
            "loss: LeMo sparse forward (keep.json) in true float64, HF causal-LM loss (mean over the "
            "seq_len-1 shifted positions); grads.safetensors: its LoRA gradients rounded to float32. "
            "dense_loss: the PEFT model (source.json) on the same tokens, every layer dense, true "
            "float64; dense_loss_f32: model(input_ids, labels=input_ids).loss in float32. "
            "f64_vs_f32: the same sparse forward run in float32 against the float64 reference "
            "(rel. errors; grads_max = max over tensors of |g32-g64|/|g64|). checks: rel. errors of "
            "the verifications (see tools/golden/README.md)."
        ),
        "versions": mg.versions(),
    }
    mg.write_json(case_dir / "expected.json", expected)
    return expected


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cases", default="all", help="comma-separated case names (default: all)")
    args = ap.parse_args()

    mg.setup_determinism()
    names = list(CASES) if args.cases == "all" else args.cases.split(",")
    for name in names:
        if name not in CASES:
            print(f"unknown case {name!r}; known: {', '.join(CASES)}", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        e = make_case(name, CASES[name], args.out)
        g = e["f64_vs_f32"]
        c = e["checks"]
        print(f"{name}: loss={e['loss']:.9f} dense_loss={e['dense_loss']:.9f} "
              f"f32 gap loss={g['loss_rel_err']:.2e} grads={g['grads_max_rel_err']:.2e} | "
              f"dense vs HF f32 {c['dense_f32_vs_hf_f32_loss']:.1e}/{c['dense_f32_vs_hf_f32_grads_max']:.1e} "
              f"f64 {c['dense_f64_vs_hf_true_f64_loss']:.1e}/{c['dense_f64_vs_hf_true_f64_grads_max']:.1e} "
              f"gather vs mask {c['gather_vs_mask_f64_loss']:.1e}/{c['gather_vs_mask_f64_grads_max']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

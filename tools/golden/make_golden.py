#!/usr/bin/env python3
"""Golden reference fixtures for the LeMo Studio engine.

Writes test/fixtures/golden/<case>/ for every case in CASES, plus
test/fixtures/golden/dtypes/.  Everything is built from a config with seeded
random weights (nothing is downloaded) and the output is byte-identical from
run to run on the same software versions (see README.md).

Per case:
  model/config.json, model/model.safetensors   HF model folder, float32
  adapter/adapter_config.json,
  adapter/adapter_model.safetensors            PEFT LoRA adapter (A and B random, non-zero)
  tokens.json                                  {"input_ids": [[...], ...]}
  expected.json                                loss, logits, float32-vs-float64 noise, ...
  grads.safetensors                            d loss / d every LoRA tensor, PEFT names, float32

The reference numbers are computed from the files as written (the model and
adapter are loaded back with from_pretrained), with attn_implementation="eager",
eval mode and every dropout probability 0.

Usage: python3 tools/golden/make_golden.py [--out DIR] [--cases a,b,...]
"""

from __future__ import annotations

import argparse
import copy
import contextlib
import json
import math
import os
import shutil
import sys
import warnings
from pathlib import Path


# PEFT stores target_modules as a Python set, so the order it writes them to
# adapter_config.json follows str hashing: pin the hash seed for byte-identical
# output (re-exec once with PYTHONHASHSEED=0).
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import safetensors  # noqa: E402
import transformers  # noqa: E402
import peft  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    GPT2Config,
    LlamaConfig,
    Qwen2Config,
)
from transformers.pytorch_utils import Conv1D  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
warnings.filterwarnings("ignore")

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "test" / "fixtures" / "golden"

# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

LLAMA_ATTN = ["q_proj", "k_proj", "v_proj", "o_proj"]
LLAMA_ALL = LLAMA_ATTN + ["gate_proj", "up_proj", "down_proj"]

CASES: dict[str, dict] = {
    "llama-gqa": dict(
        seed=1001,
        arch="llama",
        config=dict(
            vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
            rms_norm_eps=1e-5, rope_theta=10000, tie_word_embeddings=False,
            attention_bias=False, mlp_bias=False,
        ),
        lora=dict(r=4, lora_alpha=8, target_modules=LLAMA_ATTN),
        batch=2, seq_len=12,
        bf16_copy=True,
    ),
    "llama-tied-scaled-mlp": dict(
        seed=1002,
        arch="llama",
        config=dict(
            vocab_size=96, hidden_size=48, intermediate_size=64, num_hidden_layers=3,
            num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=128,
            rms_norm_eps=1e-5, tie_word_embeddings=True,
            attention_bias=False, mlp_bias=False,
            # transformers 5.x: rope_theta and the scaling live together in
            # `rope_parameters` (the legacy rope_theta= / rope_scaling= kwargs are
            # converted to exactly this and config.json only has rope_parameters).
            rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 500000.0},
        ),
        lora=dict(r=8, lora_alpha=16, target_modules=LLAMA_ALL),
        batch=2, seq_len=20,
    ),
    "llama3-rope": dict(
        seed=1007,
        arch="llama",
        config=dict(
            vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
            rms_norm_eps=1e-5, tie_word_embeddings=False,
            attention_bias=False, mlp_bias=False,
            # Llama 3.1's frequency-dependent scaling. With head_dim 8 and theta 100 the
            # wavelengths are 6.3, 19.9, 62.8 and 198.7 positions: one in each band (kept
            # below 32/4 = 8, smoothed between 8 and 32, divided by the factor above 32),
            # and the tokens reach past original_max_position_embeddings.
            rope_parameters={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 32,
                             "rope_theta": 100.0},
        ),
        lora=dict(r=4, lora_alpha=8, target_modules=LLAMA_ALL),
        batch=1, seq_len=48,
    ),
    "llama-yarn": dict(
        seed=1008,
        arch="llama",
        config=dict(
            vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
            rms_norm_eps=1e-5, tie_word_embeddings=False,
            attention_bias=False, mlp_bias=False,
            # YaRN with transformers' defaults (beta_fast 32, beta_slow 1, truncated bounds,
            # attention factor 0.1·ln 4 + 1): with head_dim 8, theta 100 and 32 original
            # positions the ramp runs over pairs 0..2, so the pairs are kept, blended and scaled.
            rope_parameters={"rope_type": "yarn", "factor": 4.0,
                             "original_max_position_embeddings": 32, "rope_theta": 100.0},
        ),
        lora=dict(r=4, lora_alpha=8, target_modules=LLAMA_ATTN),
        batch=1, seq_len=48,
    ),
    "qwen2": dict(
        seed=1003,
        arch="qwen2",
        config=dict(
            vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
            # rms_norm_eps, rope_theta, tie_word_embeddings, use_sliding_window:
            # left at Qwen2Config defaults (1e-6, 10000.0, False, False).
        ),
        lora=dict(r=4, lora_alpha=8, target_modules=LLAMA_ATTN),
        batch=2, seq_len=10,
    ),
    "gpt2": dict(
        seed=1004,
        arch="gpt2",
        config=dict(
            vocab_size=96, n_positions=64, n_embd=32, n_layer=2, n_head=4,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, summary_first_dropout=0.0,
            activation_function="gelu_new",
        ),
        lora=dict(r=4, lora_alpha=8, target_modules=["c_attn", "attn.c_proj"]),
        batch=2, seq_len=16,
    ),
    "gpt2-mlp": dict(
        seed=1005,
        arch="gpt2",
        config=dict(
            vocab_size=96, n_positions=64, n_embd=48, n_layer=3, n_head=6,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, summary_first_dropout=0.0,
            activation_function="gelu_new",
        ),
        lora=dict(r=8, lora_alpha=32, target_modules=["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"]),
        batch=2, seq_len=24,
    ),
    "llama-large": dict(
        seed=1006,
        arch="llama",
        config=dict(
            vocab_size=512, hidden_size=256, intermediate_size=688, num_hidden_layers=2,
            num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=512,
            rms_norm_eps=1e-5, rope_theta=10000, tie_word_embeddings=True,
            attention_bias=False, mlp_bias=False,
        ),
        lora=dict(r=8, lora_alpha=16, target_modules=LLAMA_ATTN),
        batch=1, seq_len=256,
        store_bf16=True,
    ),
}

CONFIG_CLASSES = {"llama": LlamaConfig, "qwen2": Qwen2Config, "gpt2": GPT2Config}

# --------------------------------------------------------------------------
# Helpers shared by the cases
# --------------------------------------------------------------------------


def setup_determinism() -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def build_config(arch: str, kwargs: dict):
    cfg = CONFIG_CLASSES[arch](**kwargs)
    # Make sure no dropout can fire, whatever mode the model ends up in.
    for key in ("attention_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop",
                "summary_first_dropout", "hidden_dropout", "dropout"):
        if hasattr(cfg, key) and getattr(cfg, key) not in (None, 0, 0.0):
            raise ValueError(f"{key} must be 0, got {getattr(cfg, key)}")
    return cfg


def randomize_base(model: nn.Module, gen: torch.Generator) -> None:
    """Overwrite every base parameter with seeded random values.

    The HF initialisers give zero biases, unit norm weights and tiny (std 0.02)
    matrices, which would hide bugs (ignored biases / norm weights, almost
    uniform attention).  Scales used here keep activations O(1):
      token embeddings N(0, 4/hidden) (GPT-2 position embeddings N(0, 1/hidden)),
      Linear / Conv1D weights N(0, 1/fan_in), biases N(0, 0.1^2),
      norm weights 1 + N(0, 0.2^2), LayerNorm biases N(0, 0.1^2).
    Tied weights are shared Parameters and are visited once.
    """
    with torch.no_grad():
        for name, p in model.named_parameters():
            owner_name, _, leaf = name.rpartition(".")
            owner = model.get_submodule(owner_name)
            shape = tuple(p.shape)
            noise = torch.randn(shape, generator=gen, dtype=torch.float32)
            if isinstance(owner, nn.Embedding):
                # 2/sqrt(hidden): keeps tied-embedding logits O(1) (std ~2)
                std = (1.0 if owner_name.endswith("wpe") else 2.0) / math.sqrt(shape[1])
                val = noise * std
            elif isinstance(owner, nn.Linear) and leaf == "weight":
                val = noise / math.sqrt(shape[1])
            elif isinstance(owner, Conv1D) and leaf == "weight":
                val = noise / math.sqrt(shape[0])  # Conv1D weight is (in, out)
            elif leaf == "bias":
                val = noise * 0.1
            elif leaf == "weight" and p.dim() == 1:  # RMSNorm / LayerNorm gain
                val = 1.0 + noise * 0.2
            else:
                raise RuntimeError(f"don't know how to randomize {name} {shape} ({type(owner).__name__})")
            p.copy_(val.to(p.dtype))


def randomize_lora(peft_model: nn.Module, gen: torch.Generator) -> None:
    """PEFT initialises lora_B to zero; give A and B non-zero values."""
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if ".lora_A." in name or ".lora_B." in name:
                p.copy_(torch.randn(tuple(p.shape), generator=gen, dtype=torch.float32) * 0.1)


def peft_saved_name(param_name: str, adapter_name: str = "default") -> str:
    """Parameter name inside the PeftModel -> tensor name in adapter_model.safetensors."""
    return param_name.replace(f".{adapter_name}.", ".")


@contextlib.contextmanager
def true_float64():
    """Make a float64 forward really float64.

    transformers 5.x computes some pieces in float32 whatever the model dtype:
    RMSNorm (casts to float32), RoPE cos/sin (inv_freq and positions in float32),
    eager attention softmax (dtype=torch.float32 for Llama/Qwen2) and the loss
    (logits.float()).  Inside this context RMSNorm, RoPE and softmax keep
    float64; the caller computes the loss itself (see causal_lm_loss).
    """
    from transformers.models.llama import modeling_llama as ml
    from transformers.models.qwen2 import modeling_qwen2 as mq

    saved = []

    def patch(obj, attr, new):
        saved.append((obj, attr, getattr(obj, attr)))
        setattr(obj, attr, new)

    orig_softmax = torch.nn.functional.softmax

    def softmax64(input, dim=None, _stacklevel=3, dtype=None):
        if dtype == torch.float32 and input.dtype == torch.float64:
            dtype = None
        return orig_softmax(input, dim=dim, dtype=dtype)

    def make_rms_forward(orig):
        def fwd(self, hidden_states):
            if hidden_states.dtype != torch.float64:
                return orig(self, hidden_states)
            variance = hidden_states.pow(2).mean(-1, keepdim=True)
            return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))
        return fwd

    def make_rope_forward(orig):
        def fwd(self, x, position_ids):
            if x.dtype != torch.float64:
                return orig(self, x, position_ids)
            rp = self.config.rope_parameters
            rope_type = rp.get("rope_type", "default")
            dim = getattr(self.config, "head_dim", None) or self.config.hidden_size // self.config.num_attention_heads
            if rope_type in ("default", "linear"):
                inv = 1.0 / (float(rp["rope_theta"]) ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
                if rope_type == "linear":
                    inv = inv / float(rp["factor"])
            elif rope_type == "llama3":
                inv = llama3_inv_freq_f64(rp, dim)
            else:  # unknown type: fall back to the float32 inv_freq, upcast
                inv = self.inv_freq.to(torch.float64)
            freqs = position_ids[:, :, None].to(torch.float64) * inv[None, None, :].to(x.device)
            emb = torch.cat((freqs, freqs), dim=-1)
            return emb.cos() * self.attention_scaling, emb.sin() * self.attention_scaling
        return fwd

    try:
        patch(torch.nn.functional, "softmax", softmax64)
        for cls in (ml.LlamaRMSNorm, mq.Qwen2RMSNorm):
            patch(cls, "forward", make_rms_forward(cls.forward))
        for cls in (ml.LlamaRotaryEmbedding, mq.Qwen2RotaryEmbedding):
            patch(cls, "forward", make_rope_forward(cls.forward))
        yield
    finally:
        for obj, attr, old in reversed(saved):
            setattr(obj, attr, old)


def llama3_inv_freq_f64(rp: dict, dim: int) -> torch.Tensor:
    """Llama 3.1's per-band rescaled inverse frequencies, in float64."""
    inv = 1.0 / (float(rp["rope_theta"]) ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    factor, low, high = float(rp["factor"]), float(rp["low_freq_factor"]), float(rp["high_freq_factor"])
    old = float(rp["original_max_position_embeddings"])
    wavelen = 2 * math.pi / inv
    smooth = (old / wavelen - low) / (high - low)
    mid = (1 - smooth) * inv / factor + smooth * inv
    return torch.where(wavelen < old / high, inv, torch.where(wavelen > old / low, inv / factor, mid))


def causal_lm_loss(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """HF ForCausalLMLoss (mean over all shifted positions), in logits' dtype."""
    v = logits.shape[-1]
    return nn.functional.cross_entropy(logits[:, :-1, :].reshape(-1, v), ids[:, 1:].reshape(-1))


def load_peft(model_dir: Path, adapter_dir: Path, dtype: torch.dtype):
    base = AutoModelForCausalLM.from_pretrained(
        str(model_dir), dtype=dtype, attn_implementation="eager")
    pm = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=True)
    pm.eval()  # no dropout anywhere (all probabilities are 0 anyway)
    return pm


def run_reference(pm, ids: torch.Tensor, f64: bool):
    """Returns (loss, logits, {saved_name: grad}) for the loaded PEFT model."""
    pm.zero_grad(set_to_none=True)
    if f64:
        with true_float64():
            out = pm(input_ids=ids)
            loss = causal_lm_loss(out.logits, ids)
    else:
        out = pm(input_ids=ids, labels=ids)
        loss = out.loss
    loss.backward()
    grads = {}
    for name, p in pm.named_parameters():
        if p.requires_grad:
            assert ".lora_A." in name or ".lora_B." in name, name
            grads[peft_saved_name(name)] = p.grad.detach().clone()
    return loss.detach(), out.logits.detach(), grads


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.double()
    b = b.double()
    nb = torch.linalg.vector_norm(b).item()
    na = torch.linalg.vector_norm(a - b).item()
    return na / nb if nb > 0 else na


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, allow_nan=False) + "\n")


def versions() -> dict:
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "safetensors": safetensors.__version__,
    }


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    return load_file(str(path))


# --------------------------------------------------------------------------
# One case
# --------------------------------------------------------------------------


def make_case(name: str, spec: dict, out_root: Path) -> dict:
    case_dir = out_root / name
    if case_dir.exists():
        shutil.rmtree(case_dir)
    model_dir = case_dir / "model"
    adapter_dir = case_dir / "adapter"
    case_dir.mkdir(parents=True)

    seed = spec["seed"]
    torch.manual_seed(seed)  # HF init (fully overwritten below, but keep it fixed)
    gen = torch.Generator().manual_seed(seed)

    cfg = build_config(spec["arch"], spec["config"])
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    randomize_base(model, gen)
    model.eval()

    # --- write the base model (before PEFT wraps its modules in place) -------
    if spec.get("store_bf16"):
        # Stored as bfloat16 (half the bytes); every reference below uses these values, widened.
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.bfloat16().float())
        copy.deepcopy(model).to(torch.bfloat16).save_pretrained(str(model_dir), safe_serialization=True)
    else:
        model.save_pretrained(str(model_dir), safe_serialization=True)

    lora_cfg = LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, bias="none", **spec["lora"])
    pm = get_peft_model(model, lora_cfg)
    randomize_lora(pm, gen)
    pm.eval()

    batch, seq_len = spec["batch"], spec["seq_len"]
    ids = torch.randint(0, cfg.vocab_size, (batch, seq_len), generator=gen, dtype=torch.long)

    # In-memory loss, to make sure the files we write reproduce it exactly.
    with torch.no_grad():
        mem_loss = pm(input_ids=ids, labels=ids).loss.item()

    pm.save_pretrained(str(adapter_dir), safe_serialization=True)
    (adapter_dir / "README.md").unlink(missing_ok=True)  # PEFT's model card template, not needed
    write_json(case_dir / "tokens.json", {"input_ids": ids.tolist()})
    del pm, model

    # --- reference from the files on disk ------------------------------------
    pm32 = load_peft(model_dir, adapter_dir, torch.float32)
    loss32, logits32, grads32 = run_reference(pm32, ids, f64=False)
    assert loss32.item() == mem_loss, (loss32.item(), mem_loss)

    saved_adapter = read_safetensors(adapter_dir / "adapter_model.safetensors")
    assert set(saved_adapter) == set(grads32), (sorted(saved_adapter), sorted(grads32))
    for k, g in grads32.items():
        assert g.shape == saved_adapter[k].shape and g.dtype == torch.float32, k
        assert torch.count_nonzero(g).item() > 0, f"zero gradient for {k}"

    pm64 = load_peft(model_dir, adapter_dir, torch.float64)
    loss64, logits64, grads64 = run_reference(pm64, ids, f64=True)

    # How much does the "float64" model transformers gives out of the box
    # (float32 RMSNorm / RoPE / softmax / loss inside) differ from true float64?
    hf64_loss, _, hf64_grads = run_reference(pm64, ids, f64=False)

    grad_errs = {k: rel_err(grads32[k], grads64[k]) for k in grads32}
    save_file({k: grads32[k].contiguous() for k in sorted(grads32)},
              str(case_dir / "grads.safetensors"), metadata={"format": "pt"})

    expected = {
        "case": name,
        "model_type": cfg.model_type,
        "loss": loss32.item(),
        "batch": batch,
        "seq_len": seq_len,
        "logits_first": logits32[0, 0, :8].tolist(),
        "logits_last": logits32[-1, -1, :8].tolist(),
        "loss_f64": loss64.item(),
        "f32_vs_f64_rel_err": {
            "loss": abs(loss32.item() - loss64.item()) / abs(loss64.item()),
            "grads_max": max(grad_errs.values()),
            "logits": rel_err(logits32, logits64),
        },
        "hf_f64_vs_true_f64_rel_err": {
            "loss": abs(hf64_loss.item() - loss64.item()) / abs(loss64.item()),
            "grads_max": max(rel_err(hf64_grads[k], grads64[k]) for k in grads64),
        },
        "lora": {
            "r": spec["lora"]["r"],
            "alpha": spec["lora"]["lora_alpha"],
            "scaling": spec["lora"]["lora_alpha"] / spec["lora"]["r"],
            "target_modules": list(spec["lora"]["target_modules"]),
            "num_tensors": len(grads32),
        },
        "grad_norms": {k: torch.linalg.vector_norm(grads32[k].double()).item() for k in sorted(grads32)},
        "seed": seed,
        "notes": (
            "loss = HF causal-LM loss (mean over batch*(seq_len-1) shifted positions) of the "
            "PEFT model in float32, eager attention, no dropout. logits_first = logits[0, 0, :8], "
            "logits_last = logits[batch-1, seq_len-1, :8]. *_f64 / f32_vs_f64 use a true float64 "
            "forward (RMSNorm, RoPE, softmax and loss in float64)."
        ),
        "versions": versions(),
    }

    if spec.get("bf16_copy"):
        bf_dir = case_dir / "model-bf16"
        m_bf = AutoModelForCausalLM.from_pretrained(
            str(model_dir), dtype=torch.bfloat16, attn_implementation="eager")
        m_bf.save_pretrained(str(bf_dir), safe_serialization=True)
        del m_bf
        pmbf = load_peft(bf_dir, adapter_dir, torch.float32)  # bf16 weights upcast to float32
        for p in pmbf.get_base_model().parameters():
            assert p.dtype == torch.float32
        lossbf, _, _ = run_reference(pmbf, ids, f64=False)
        expected["loss_bf16_weights"] = lossbf.item()
        expected["loss_bf16_weights_notes"] = (
            "float32 loss of a float32 model whose base weights are model-bf16/ upcast to "
            "float32; same adapter (float32) and tokens.")

    write_json(case_dir / "expected.json", expected)
    return expected


# --------------------------------------------------------------------------
# dtypes fixture
# --------------------------------------------------------------------------

DTYPE_VALUES = [
    [1.0, -2.5, 0.1, 65504.0, -0.0],
    # 1e-5: float16 subnormal; 1e-40: float32/bfloat16 subnormal (0 in float16);
    # -1/3 and 3.14159: inexact in every format; 12345.678: f16 spacing is 8.
    [1.0e-5, -0.3333333432674408, 1.0e-40, 3.14159, -12345.678],
]


def make_dtypes(out_root: Path) -> None:
    d = out_root / "dtypes"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    x = torch.tensor(DTYPE_VALUES, dtype=torch.float32)
    tensors = {
        "x_f32": x.clone(),
        "x_f16": x.to(torch.float16),
        "x_bf16": x.to(torch.bfloat16),
    }
    save_file(tensors, str(d / "values.safetensors"), metadata={"format": "pt"})

    def bits(t: torch.Tensor) -> list:
        if t.dtype == torch.float32:
            return [[f"{v & 0xFFFFFFFF:08x}" for v in row] for row in t.view(torch.int32).tolist()]
        return [[f"{v & 0xFFFF:04x}" for v in row] for row in t.view(torch.int16).tolist()]

    expected = {
        "shape": [2, 5],
        "source_values": DTYPE_VALUES,
        "dtypes": {"x_f32": "F32", "x_f16": "F16", "x_bf16": "BF16"},
        "x_f32": tensors["x_f32"].tolist(),
        "x_f16": tensors["x_f16"].to(torch.float32).tolist(),
        "x_bf16": tensors["x_bf16"].to(torch.float32).tolist(),
        "bits_hex": {k: bits(v) for k, v in tensors.items()},
        "notes": ("x_* = exact float32 value each stored tensor decodes to (f16/bf16 upcast to "
                  "float32 by torch). -0.0 is written as -0.0; bits_hex are the raw little-endian "
                  "element bit patterns."),
    }
    write_json(d / "expected.json", expected)


# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cases", default="all", help="comma-separated case names (default: all, plus dtypes)")
    args = ap.parse_args()

    setup_determinism()
    names = list(CASES) + ["dtypes"] if args.cases == "all" else args.cases.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name == "dtypes":
            make_dtypes(args.out)
            print("dtypes: written")
            continue
        if name not in CASES:
            print(f"unknown case {name!r}; known: {', '.join(CASES)}, dtypes", file=sys.stderr)
            return 2
        e = make_case(name, CASES[name], args.out)
        err = e["f32_vs_f64_rel_err"]
        extra = f" loss_bf16_weights={e['loss_bf16_weights']:.6f}" if "loss_bf16_weights" in e else ""
        hf = e["hf_f64_vs_true_f64_rel_err"]
        print(f"{name}: loss={e['loss']:.6f} f32_vs_f64 loss={err['loss']:.2e} "
              f"grads_max={err['grads_max']:.2e} logits={err['logits']:.2e} | "
              f"hf_f64_vs_true_f64 loss={hf['loss']:.2e} grads_max={hf['grads_max']:.2e}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

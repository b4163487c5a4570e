#!/usr/bin/env python3
"""Golden references in the shapes of real models, with generated weights.

Writes test/fixtures/golden-shapes/<case>.json for every case in CASES: one or two
layers of SmolLM2-135M, SmolLM2-360M, Qwen2.5-0.5B, Qwen2.5-1.5B and Llama-3.2-1B,
each with the model's exact config.json (every width, head layout, vocabulary, bias
and RoPE setting; only num_hidden_layers is cut), weights stored as bfloat16.

The weights are too large for the repository (a 151,936 x 896 embedding is 272 MB in
bfloat16), so they are not written: every tensor is generated from (seed, tensor
index, element index) by a counter-based 32-bit hash, the same in Python here and in
TypeScript (test/helpers/shape-gen.ts), bit for bit. Each golden lists every tensor
with its shape, its init rule and a checksum of its stored bits, so a test first
checks that its generator made the same bytes, then compares gradients.

Generator (all arithmetic modulo 2^32):
  fmix32(h)      = murmur3's finaliser: h ^= h>>16; h *= 0x85EBCA6B; h ^= h>>13;
                   h *= 0xC2B2AE35; h ^= h>>16
  key(seed, t)   = fmix32(seed * 0x9E3779B1 + (t + 1) * 0x85EBCA77)
  hash(key, i)   = fmix32(i * 0x9E3779B1 + key)
  uniform(e):      k = hash >> 8 (24 bits); value = (k - 2^23) * 2^(e - 23), exact in
                   float32, uniform in [-2^e, 2^e)
  gain:            k = hash >> 24 (8 bits); value = 1 + (k - 128) / 512, exact in float32
  bfloat16 bits  = round to nearest even of the float32 bits u:
                   (u + 0x7FFF + ((u >> 16) & 1)) >> 16
  checksum       = sum_i fmix32(bits_i ^ ((2i + 1) * 0x85EBCA77)) mod 2^32 (bits: uint16 for
                   BF16, uint32 for F32)
Base tensor t is the t-th of `tensors` (model.safetensors order of transformers'
named_parameters); adapter tensor j (sorted PEFT names, float32, not rounded) uses
t = 1000 + j; the tokens use t = 999, token = hash % vocab_size, and token 1 is
vocab_size - 1 (the vocabulary's last row is read).
Scales: embeddings e = 1 - floor(floor(log2 hidden) / 2) (std ~ 2/sqrt(hidden), as
make_golden.py), Linear weights e = -floor(floor(log2 fan_in) / 2) (std ~ 1/sqrt(fan_in)),
biases e = -3, norm gains `gain`, LoRA A and B e = -3 (std 0.072; make_golden.py: 0.1).

The reference: transformers + PEFT on CPU, from the files as written (bf16 base weights
widened to float32 / float64 by from_pretrained, float32 adapter), eager attention, HF's
causal-LM loss (mean over the T-1 shifted positions), in true float64 (make_golden.py's
true_float64); with a keep list, make_sparse_golden.py's sparse forward in float64.
Committed per gradient tensor (all of it would be megabytes): its L2 norm, four random
projections sum_i g_i r_k(i) (r_k(i) = uniform(0) with seed PROJ_SEED + k and t = the
tensor's index among the sorted PEFT names) and 256 sampled entries (index =
hash % numel, seed SAMPLE_SEED, same t).

Usage: python3 tools/golden/make_shape_golden.py [--out DIR] [--cases a,b,...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402

import make_golden as mg  # noqa: E402
import make_sparse_golden as ms  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "test" / "fixtures" / "golden-shapes"

PROJ_SEED = 0x5EED0
SAMPLE_SEED = 0x5A3B1
N_PROJ = 4
N_SAMPLES = 256
TOKENS_T = 999
ADAPTER_T0 = 1000

ALL7 = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# The models' config.json as published (num_hidden_layers cut, per case below).
SMOLLM2_135M = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 576,
    "initializer_range": 0.041666666666666664, "intermediate_size": 1536, "is_llama_config": True,
    "max_position_embeddings": 8192, "mlp_bias": False, "model_type": "llama",
    "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05, "rope_interleaved": False, "rope_scaling": None, "rope_theta": 100000,
    "tie_word_embeddings": True, "torch_dtype": "bfloat16", "transformers_version": "4.40.1",
    "use_cache": True, "vocab_size": 49152,
}
SMOLLM2_360M = {
    **SMOLLM2_135M, "hidden_size": 960, "initializer_range": 0.02, "intermediate_size": 2560,
    "num_attention_heads": 15, "num_hidden_layers": 32, "num_key_value_heads": 5,
}
QWEN25_05B = {
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
    "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
    "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": True,
    "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": True, "use_mrope": False,
    "use_sliding_window": False, "vocab_size": 151936,
}
QWEN25_15B = {
    **QWEN25_05B, "hidden_size": 1536, "intermediate_size": 8960, "max_position_embeddings": 131072,
    "max_window_layers": 28, "num_attention_heads": 12, "num_hidden_layers": 28,
    "sliding_window": 131072,
}
LLAMA32_1B = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
    "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
    "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    "transformers_version": "4.45.0.dev0", "use_cache": True, "vocab_size": 128256,
}

# shards: None = one model.safetensors (as upstream for all five); a list of name
# prefixes = the files model-0000i-of-0000n.safetensors with model.safetensors.index.json.
CASES: dict[str, dict] = {
    "smollm2-135m": dict(upstream="HuggingFaceTB/SmolLM2-135M", config=SMOLLM2_135M, layers=1, seed=3001,
                         lora=dict(r=8, lora_alpha=16, target_modules=ALL7), seq_len=16),
    "smollm2-135m-sparse": dict(upstream="HuggingFaceTB/SmolLM2-135M", config=SMOLLM2_135M, layers=1, seed=3002,
                                lora=dict(r=8, lora_alpha=16, target_modules=ALL7), seq_len=32,
                                keep={"block": 8, "layers": [[0, 2, 3]]}),
    "smollm2-360m": dict(upstream="HuggingFaceTB/SmolLM2-360M", config=SMOLLM2_360M, layers=1, seed=3003,
                         lora=dict(r=4, lora_alpha=8, target_modules=ALL7[:4]), seq_len=16),
    "qwen2.5-0.5b": dict(upstream="Qwen/Qwen2.5-0.5B", config=QWEN25_05B, layers=1, seed=3004,
                         lora=dict(r=8, lora_alpha=16, target_modules=ALL7), seq_len=16),
    "qwen2.5-1.5b": dict(upstream="Qwen/Qwen2.5-1.5B", config=QWEN25_15B, layers=1, seed=3005,
                         lora=dict(r=8, lora_alpha=16, target_modules=ALL7[:4]), seq_len=16,
                         shards=[["model.embed_tokens."], ["model.layers.", "model.norm."]]),
    "llama-3.2-1b": dict(upstream="meta-llama/Llama-3.2-1B", config=LLAMA32_1B, layers=1, seed=3006,
                         lora=dict(r=8, lora_alpha=16, target_modules=ALL7), seq_len=16),
}

# --------------------------------------------------------------------------
# The generator (numpy, uint32 arithmetic wraps modulo 2^32)
# --------------------------------------------------------------------------

U32 = np.uint32
CHUNK = 1 << 22


def fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> U32(16))
    h = h * U32(0x85EBCA6B)
    h = h ^ (h >> U32(13))
    h = h * U32(0xC2B2AE35)
    return h ^ (h >> U32(16))


def key(seed: int, t: int) -> int:
    x = (seed * 0x9E3779B1 + (t + 1) * 0x85EBCA77) & 0xFFFFFFFF
    return int(fmix32(np.array([x], dtype=U32))[0])


def hashes(k: int, start: int, n: int) -> np.ndarray:
    i = np.arange(start, start + n, dtype=np.uint64).astype(U32)
    return fmix32(i * U32(0x9E3779B1) + U32(k))


def uniform(h: np.ndarray, e: int) -> np.ndarray:
    k = (h >> U32(8)).astype(np.int64) - (1 << 23)
    return k.astype(np.float32) * np.float32(2.0 ** (e - 23))


def values_f32(seed: int, t: int, init: dict, start: int, n: int) -> np.ndarray:
    h = hashes(key(seed, t), start, n)
    if init["kind"] == "gain":
        return ((h >> U32(24)).astype(np.float32) - np.float32(128)) / np.float32(512) + np.float32(1)
    return uniform(h, init["exp"])


def bf16_bits(x: np.ndarray) -> np.ndarray:
    u = x.astype(np.float32).view(U32)
    return ((u + U32(0x7FFF) + ((u >> U32(16)) & U32(1))) >> U32(16)).astype(np.uint16)


def checksum(bits: np.ndarray, start: int) -> int:
    i = np.arange(start, start + bits.size, dtype=np.uint64).astype(U32)
    mixed = fmix32(bits.astype(U32) ^ ((U32(2) * i + U32(1)) * U32(0x85EBCA77)))
    return int(mixed.sum(dtype=np.uint64) & np.uint64(0xFFFFFFFF))


def generate(seed: int, t: int, shape: list[int], init: dict, dtype: str) -> tuple[torch.Tensor, int]:
    """The tensor (bfloat16 or float32) and the checksum of its stored bits."""
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.uint16 if dtype == "BF16" else U32)
    total = 0
    for s in range(0, n, CHUNK):
        m = min(CHUNK, n - s)
        x = values_f32(seed, t, init, s, m)
        out[s:s + m] = bf16_bits(x) if dtype == "BF16" else x.view(U32)
        total = (total + checksum(out[s:s + m], s)) & 0xFFFFFFFF
    if dtype == "BF16":
        tensor = torch.from_numpy(out.view(np.int16)).view(torch.bfloat16)
    else:
        tensor = torch.from_numpy(out.view(np.float32).copy())
    return tensor.reshape(shape).clone(), total


def exp_floor_half_log2(n: int) -> int:
    return -((n.bit_length() - 1) >> 1)


def init_of(name: str, shape: list[int], hidden: int) -> dict:
    if name.endswith("embed_tokens.weight"):
        return {"kind": "uniform", "exp": 1 + exp_floor_half_log2(hidden)}
    if name.endswith("norm.weight"):
        return {"kind": "gain"}
    if name.endswith(".bias"):
        return {"kind": "uniform", "exp": -3}
    assert len(shape) == 2, name
    return {"kind": "uniform", "exp": exp_floor_half_log2(shape[1])}


# --------------------------------------------------------------------------
# One case
# --------------------------------------------------------------------------


def write_model(spec: dict, config: dict, model_dir: Path) -> tuple[list[dict], dict[str, torch.Tensor]]:
    model_dir.mkdir(parents=True)
    (model_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    cfg = AutoConfig.from_pretrained(str(model_dir))
    skeleton = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    tensors, state = [], {}
    for t, (name, p) in enumerate(skeleton.named_parameters()):
        shape = list(p.shape)
        init = init_of(name, shape, config["hidden_size"])
        value, cs = generate(spec["seed"], t, shape, init, "BF16")
        state[name] = value
        tensors.append({"name": name, "shape": shape, "dtype": "BF16", "init": init, "checksum": cs})
    assert "lm_head.weight" not in state and config["tie_word_embeddings"]
    del skeleton
    shards = spec.get("shards")
    if not shards:
        save_file(state, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    else:
        files = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
        weight_map = {}
        for name in state:
            i = next(i for i, prefixes in enumerate(shards) if name.startswith(tuple(prefixes)))
            weight_map[name] = files[i]
        for i, f in enumerate(files):
            save_file({n: state[n] for n in state if weight_map[n] == f}, str(model_dir / f), metadata={"format": "pt"})
        total = sum(v.numel() * 2 for v in state.values())
        (model_dir / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, indent=2) + "\n")
    return tensors, state


def write_adapter(spec: dict, model_dir: Path, adapter_dir: Path) -> tuple[list[dict], dict]:
    base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, attn_implementation="eager")
    pm = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, bias="none", **spec["lora"]))
    params = {mg.peft_saved_name(n): p for n, p in pm.named_parameters() if p.requires_grad}
    entries = []
    with torch.no_grad():
        for j, name in enumerate(sorted(params)):
            shape = list(params[name].shape)
            init = {"kind": "uniform", "exp": -3}
            value, cs = generate(spec["seed"], ADAPTER_T0 + j, shape, init, "F32")
            params[name].copy_(value)
            entries.append({"name": name, "shape": shape, "dtype": "F32", "init": init, "checksum": cs})
    pm.save_pretrained(str(adapter_dir), safe_serialization=True)
    (adapter_dir / "README.md").unlink(missing_ok=True)
    saved = load_file(str(adapter_dir / "adapter_model.safetensors"))
    assert sorted(saved) == [e["name"] for e in entries], (sorted(saved), entries)
    for e in entries:
        assert torch.equal(saved[e["name"]], params[e["name"]].detach()), e["name"]
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = spec["upstream"]  # not the temporary folder's path
    return entries, config


def grad_summary(grads: dict[str, torch.Tensor], seed: int) -> dict:
    out = {}
    for j, name in enumerate(sorted(grads)):
        g = grads[name].double().reshape(-1).numpy()
        n = g.size
        proj = [float(np.dot(g, uniform(hashes(key(PROJ_SEED + k, j), 0, n), 0).astype(np.float64)))
                for k in range(N_PROJ)]
        idx = (hashes(key(SAMPLE_SEED, j), 0, N_SAMPLES).astype(np.int64) % n).tolist()
        out[name] = {"norm": float(np.linalg.norm(g)), "proj": proj, "idx": idx, "val": [float(g[i]) for i in idx]}
    return out


def make_case(name: str, spec: dict, out_root: Path) -> dict:
    config = {**spec["config"], "num_hidden_layers": spec["layers"]}
    tmp = Path(tempfile.mkdtemp(prefix=f"shape-golden-{name}-"))
    try:
        model_dir, adapter_dir = tmp / "model", tmp / "adapter"
        tensors, state = write_model(spec, config, model_dir)

        # The files load as written: nothing missing or unexpected, the bf16 values widened exactly.
        base, info = AutoModelForCausalLM.from_pretrained(
            str(model_dir), dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
        assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
        for n, p in base.named_parameters():
            assert torch.equal(p.detach(), state[n].float()), n
        assert base.lm_head.weight.data_ptr() == base.model.embed_tokens.weight.data_ptr()
        del base, state

        adapter, adapter_config = write_adapter(spec, model_dir, adapter_dir)
        V, T = config["vocab_size"], spec["seq_len"]
        ids = (hashes(key(spec["seed"], TOKENS_T), 0, T).astype(np.int64) % V).tolist()
        ids[1] = V - 1
        ids_t = torch.tensor([ids], dtype=torch.long)

        pm32 = mg.load_peft(model_dir, adapter_dir, torch.float32)
        loss32, _, grads32 = mg.run_reference(pm32, ids_t, f64=False)
        del pm32
        pm64 = mg.load_peft(model_dir, adapter_dir, torch.float64)
        loss64, _, grads64 = mg.run_reference(pm64, ids_t, f64=True)
        del pm64
        keep, checks = spec.get("keep"), {}
        dense_loss64 = loss64.item()
        if keep is not None:
            w64 = ms.Weights(model_dir, adapter_dir, torch.float64)
            f_loss, f_grads = ms.loss_and_grads(w64, ids_t, None)
            checks["functional_dense_vs_peft_f64_loss"] = ms.rel(f_loss.item(), loss64.item())
            checks["functional_dense_vs_peft_f64_grads_max"] = ms.max_grad_err(f_grads, grads64)
            assert checks["functional_dense_vs_peft_f64_loss"] < 1e-10, checks
            assert checks["functional_dense_vs_peft_f64_grads_max"] < 1e-10, checks
            loss64, grads64 = ms.loss_and_grads(w64, ids_t, keep)
            w32 = ms.Weights(model_dir, adapter_dir, torch.float32)
            loss32, grads32 = ms.loss_and_grads(w32, ids_t, keep)
            checks["sparse_vs_dense_f64_loss"] = ms.rel(loss64.item(), dense_loss64)
            assert checks["sparse_vs_dense_f64_loss"] > 1e-4, checks
            del w64, w32
        for k, g in grads64.items():
            assert torch.count_nonzero(g).item() > 0, f"zero gradient for {k}"
        if config.get("rope_scaling"):
            # How far the loss moves when the RoPE scaling is left out: what a test must resolve.
            plain = AutoConfig.from_pretrained(str(model_dir))
            plain.rope_parameters = {"rope_type": "default", "rope_theta": config["rope_theta"]}
            base = AutoModelForCausalLM.from_pretrained(str(model_dir), config=plain, dtype=torch.float64, attn_implementation="eager")
            pm_plain = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=True).eval()
            checks["loss_without_rope_scaling"] = mg.run_reference(pm_plain, ids_t, f64=True)[0].item()
            assert checks["loss_without_rope_scaling"] != loss64.item(), checks
            del base, pm_plain
        assert sorted(grads64) == [e["name"] for e in adapter]

        golden = {
            "case": name,
            "upstream": spec["upstream"],
            "config": config,
            "seed": spec["seed"],
            "shards": [[f"model-{i + 1:05d}-of-{len(spec['shards']):05d}.safetensors", p]
                       for i, p in enumerate(spec["shards"])] if spec.get("shards") else None,
            "tensors": tensors,
            "adapter_config": adapter_config,
            "adapter": adapter,
            "input_ids": [ids],
            **({"keep": keep} if keep is not None else {}),
            "loss": loss64.item(),
            "dense_loss": dense_loss64,
            "f32_vs_f64_rel_err": {
                "loss": ms.rel(loss32.item(), loss64.item()),
                "grads_max": max(mg.rel_err(grads32[k], grads64[k]) for k in grads64),
            },
            "checks": checks,
            "grads": grad_summary(grads64, spec["seed"]),
            "generator": {"proj_seed": PROJ_SEED, "sample_seed": SAMPLE_SEED, "tokens_t": TOKENS_T, "adapter_t0": ADAPTER_T0},
            "notes": ("Generated weights (see tools/golden/make_shape_golden.py). loss: true float64, HF "
                      "causal-LM loss (with keep: make_sparse_golden.py's sparse forward); grads: per LoRA "
                      "tensor of the float64 gradient, norm, projections on 4 generated vectors, 256 sampled "
                      "entries. f32_vs_f64_rel_err: transformers' own float32 run against it."),
            "versions": mg.versions(),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out_root.mkdir(parents=True, exist_ok=True)
    (out_root / f"{name}.json").write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    return golden


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cases", default="all")
    args = ap.parse_args()
    mg.setup_determinism()
    names = list(CASES) if args.cases == "all" else args.cases.split(",")
    for name in names:
        g = make_case(name, CASES[name], args.out)
        e = g["f32_vs_f64_rel_err"]
        print(f"{name}: loss={g['loss']:.6f} f32_vs_f64 loss={e['loss']:.2e} grads_max={e['grads_max']:.2e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A model folder with random weights in a real model's shape, for the benches.

Weights cannot be downloaded, so the shape comes from its config (as published on the hub) and
the weights from transformers' own initialisation (seeded), saved in float32 by default so the
engine and PyTorch start from the same numbers (bench/gpu), or in the hub's bfloat16 and shards
(--dtype bfloat16 --shard 500MB) as people will drop them. No tokenizer: the benches take token
ids from the default model's tokenizer (every id is inside the larger vocabulary).

  python3 bench/gpu/make_model.py --shape smollm2-135m --out /var/tmp/lemo-gpu/smollm2-135m
  python3 bench/gpu/make_model.py --shape qwen2.5-0.5b --dtype bfloat16 --shard 500MB --out /tmp/qwen
"""

import argparse
import json
import os

import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

SHAPES = {
    # HuggingFaceTB/SmolLM2-135M's config.json (its full 49,152-token vocabulary).
    "smollm2-135m": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
        "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64,
        "vocab_size": 49152, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "hidden_act": "silu",
        "rope_theta": 100000.0, "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
        "bos_token_id": 0, "eos_token_id": 0, "initializer_range": 0.041666666666666664,
    },
    # Qwen/Qwen2.5-0.5B's config.json (151,936-token vocabulary, q/k/v biases, tied embeddings).
    "qwen2.5-0.5b": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
        "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
        "vocab_size": 151936, "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "hidden_act": "silu",
        "rope_theta": 1000000.0, "tie_word_embeddings": True, "use_sliding_window": False, "sliding_window": 32768,
        "max_window_layers": 24, "bos_token_id": 151643, "eos_token_id": 151643, "initializer_range": 0.02,
    },
    # Qwen/Qwen2.5-1.5B's config.json (a 3.1 GB bfloat16 file on the hub).
    "qwen2.5-1.5b": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 1536, "intermediate_size": 8960,
        "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
        "vocab_size": 151936, "max_position_embeddings": 131072, "rms_norm_eps": 1e-6, "hidden_act": "silu",
        "rope_theta": 1000000.0, "tie_word_embeddings": True, "use_sliding_window": False, "sliding_window": 131072,
        "max_window_layers": 28, "bos_token_id": 151643, "eos_token_id": 151643, "initializer_range": 0.02,
    },
}


def write_tokenizer(source: str, out: str, vocab: int) -> None:
    """The source tokenizer with added tokens <|unused_N|> taking the ids up to the vocabulary's size."""
    with open(source, encoding="utf-8") as f:
        tok = json.load(f)
    used = len(tok["model"]["vocab"]) + sum(1 for t in tok["added_tokens"] if t["id"] >= len(tok["model"]["vocab"]))
    for i in range(used, vocab):
        tok["added_tokens"].append({"id": i, "content": f"<|unused_{i}|>", "single_word": False, "lstrip": False,
                                    "rstrip": False, "normalized": False, "special": True})
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--shape", choices=sorted(SHAPES), required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    p.add_argument("--shard", default=None, help="largest shard, e.g. 500MB (the hub's sharded layout with its index)")
    p.add_argument("--tokenizer-from", default=None,
                   help="a tokenizer.json to copy in, padded with unused added tokens to the model's vocabulary")
    a = p.parse_args()
    if a.tokenizer_from:
        write_tokenizer(a.tokenizer_from, a.out, SHAPES[a.shape]["vocab_size"])
    if any(os.path.exists(os.path.join(a.out, f)) for f in ("model.safetensors", "model.safetensors.index.json")):
        print(f"{a.out}: already made")
        return
    torch.manual_seed(a.seed)
    shape = SHAPES[a.shape]
    qwen = shape["model_type"] == "qwen2"
    cfg = (Qwen2Config if qwen else LlamaConfig)(**shape)
    model = (Qwen2ForCausalLM if qwen else LlamaForCausalLM)(cfg).to(getattr(torch, a.dtype))
    model.save_pretrained(a.out, safe_serialization=True, **({"max_shard_size": a.shard} if a.shard else {}))
    with open(os.path.join(a.out, "config.json"), encoding="utf-8") as f:
        saved = json.load(f)
    params = sum(t.numel() for t in model.parameters())
    print(f"{a.out}: {a.shape}, {params / 1e6:.1f} M parameters, vocabulary {saved['vocab_size']}")


if __name__ == "__main__":
    main()

"""A model folder with random weights in a real model's shape, for bench/gpu on the GPU machine.

Weights cannot be downloaded there, so the shape comes from its config (as published on the hub)
and the weights from transformers' own initialisation (seeded), saved in float32 so the engine
and PyTorch start from the same numbers. No tokenizer: both sides take token ids from the
default model's tokenizer (every id is inside the larger vocabulary).

  python3 bench/gpu/make_model.py --shape smollm2-135m --out /var/tmp/lemo-gpu/smollm2-135m
"""

import argparse
import json
import os

import torch
from transformers import LlamaConfig, LlamaForCausalLM

SHAPES = {
    # HuggingFaceTB/SmolLM2-135M's config.json (its full 49,152-token vocabulary).
    "smollm2-135m": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
        "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64,
        "vocab_size": 49152, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "hidden_act": "silu",
        "rope_theta": 100000.0, "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
        "bos_token_id": 0, "eos_token_id": 0, "initializer_range": 0.041666666666666664,
    },
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--shape", choices=sorted(SHAPES), required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if os.path.exists(os.path.join(a.out, "model.safetensors")):
        print(f"{a.out}: already made")
        return
    torch.manual_seed(a.seed)
    cfg = LlamaConfig(**SHAPES[a.shape])
    model = LlamaForCausalLM(cfg).to(torch.float32)
    model.save_pretrained(a.out, safe_serialization=True)
    with open(os.path.join(a.out, "config.json"), encoding="utf-8") as f:
        saved = json.load(f)
    params = sum(t.numel() for t in model.parameters())
    print(f"{a.out}: {a.shape}, {params / 1e6:.1f} M parameters, vocabulary {saved['vocab_size']}")


if __name__ == "__main__":
    main()

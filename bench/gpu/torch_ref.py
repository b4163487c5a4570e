"""PyTorch + PEFT dense LoRA on the GPU: the native reference for bench/gpu.

The same model folder (the default, lemo-tiny), the same LoRA settings as `lemo bench`
(r 8, alpha 16, q/k/v/o, no dropout), AdamW lr 1e-3, batch 1, linear RoPE scaling ctx/1024,
tokens from the same dataset (the first window of each length from the longest document; the
engine's benchmark samples windows with its own seed, so losses differ slightly, speed does not).
Step = forward, loss, backward, optimizer step, each timed between CUDA synchronisations.
Median over the steps after the first; peak = torch.cuda.max_memory_allocated over the steps.

  python3 bench/gpu/torch_ref.py --ctx 2048,4096,8192,16384 --out OUT/torch.jsonl
"""

import argparse
import gzip
import json
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer
from transformers import AutoConfig, LlamaForCausalLM


def windows_source(tokenizer_dir: str, data: str) -> list[int]:
    tok = Tokenizer.from_file(f"{tokenizer_dir}/tokenizer.json")
    opener = gzip.open if data.endswith(".gz") else open
    with opener(data, "rt", encoding="utf-8") as f:
        docs = [json.loads(line)["text"] for line in f if line.strip()]
    longest = max(docs, key=len)
    return tok.encode(longest).ids


def step_bench(model_dir: str, ids: list[int], ctx: int, precision: str, attn: str, steps: int, device: str) -> dict:
    cuda = device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    cfg = AutoConfig.from_pretrained(model_dir)
    theta = cfg.rope_parameters["rope_theta"]
    factor = max(1.0, ctx / cfg.max_position_embeddings)
    cfg.rope_parameters = (
        {"rope_type": "linear", "factor": factor, "rope_theta": theta} if factor != 1.0 else {"rope_type": "default", "rope_theta": theta}
    )
    model = LlamaForCausalLM.from_pretrained(model_dir, config=cfg, attn_implementation=attn, dtype=torch.float32).to(device)
    model = get_peft_model(
        model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], lora_dropout=0.0)
    )
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x = torch.tensor([ids[:ctx]], device=device)
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times, loss = [], float("nan")
    for _ in range(steps):
        sync()
        t0 = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16-autocast"):
            out = model(input_ids=x, labels=x)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
        loss = out.loss.item()
    peak = torch.cuda.max_memory_allocated() if cuda else None
    rest = sorted(times[1:]) if len(times) > 1 else times
    row = {
        "kind": "torch", "ctx": ctx, "precision": precision, "attn": attn, "steps": steps, "medianStepMs": rest[len(rest) // 2],
        "stepMs": times, "peakBytes": peak, "loss": loss, "ropeScale": factor,
        "model": model_dir.rstrip("/").split("/")[-1], "torch": torch.__version__, "device": torch.cuda.get_device_name() if cuda else "cpu", "tf32": torch.backends.cuda.matmul.allow_tf32,
    }
    del model, opt, out
    if cuda:
        torch.cuda.empty_cache()
    return row


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="public/models/lemo-tiny")
    p.add_argument("--data", default="public/data/books-long/train.jsonl.gz")
    p.add_argument("--tokenizer", help="folder whose tokenizer.json makes the ids (the model folder's by default)")
    p.add_argument("--ctx", default="2048,4096,8192,16384")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--variants", default="fp32:sdpa,fp32:eager,bf16-autocast:sdpa")
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    ids = windows_source(a.tokenizer or a.model, a.data)
    with open(a.out, "a", encoding="utf-8") as f:
        for ctx in [int(c) for c in a.ctx.split(",")]:
            if ctx > len(ids):
                print(f"skip {ctx}: the longest document has {len(ids)} tokens", file=sys.stderr)
                continue
            for v in a.variants.split(","):
                precision, attn = v.split(":")
                try:
                    row = step_bench(a.model, ids, ctx, precision, attn, a.steps, a.device)
                except torch.OutOfMemoryError as e:  # eager attention at long contexts
                    row = {"kind": "torch", "ctx": ctx, "precision": precision, "attn": attn, "error": str(e)[:200]}
                    torch.cuda.empty_cache()
                f.write(json.dumps(row) + "\n")
                f.flush()
                if "error" in row:
                    print(f"torch {precision:14s} {attn:6s} ctx {ctx:6d}  failed: {row['error']}", file=sys.stderr)
                else:
                    print(
                        f"torch {precision:14s} {attn:6s} ctx {ctx:6d}  step {row['medianStepMs']:8.1f} ms  peak {(row['peakBytes'] or 0) / 2**20:8.0f} MB  loss {row['loss']:.4f}",
                        file=sys.stderr,
                    )


if __name__ == "__main__":
    main()

"""Pretrain lemo-tiny (LlamaForCausalLM) on the pretraining corpus.

Device-agnostic (--device cpu|cuda), fixed seed, deterministic data order:
the corpus is tokenized (no special tokens) and every document is followed by
<|endoftext|>; the documents are concatenated in corpus order into one token
stream.  Epoch e draws (from numpy's PCG64 seeded with --seed) an offset in
[0, ctx) and a permutation of the non-overlapping ctx-token windows starting
at that offset; batches are consecutive slices of that permutation (the last
incomplete batch of an epoch is dropped).

Validation (for model selection only; never the held-out test file): the
first --val-tokens tokens of every document of public/data/sotu-long/train.jsonl
(disjoint from pretraining), scored with the eval_ppl.py rule at ctx.

Writes a Hugging Face model folder (float32 safetensors, config.json,
generation_config.json) to --out, the loss curve to --log (CSV) and a summary
JSON to --summary.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

from common import HERE, MODEL_DIR, PRETRAIN_JSONL, SEED, TRAIN_JSONL, read_jsonl


def model_config(args, vocab_size: int) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        head_dim=args.hidden // args.heads,
        hidden_act="silu",
        max_position_embeddings=args.ctx,
        initializer_range=0.02,
        rms_norm_eps=1e-5,
        use_cache=True,
        tie_word_embeddings=True,
        rope_theta=args.rope_theta,
        attention_bias=False,
        attention_dropout=0.0,
        mlp_bias=False,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=None,
    )


def count_params(model: torch.nn.Module) -> int:
    seen, n = set(), 0
    for p in model.parameters():          # .parameters() yields a tied tensor once
        if id(p) not in seen:
            seen.add(id(p))
            n += p.numel()
    return n


def token_stream(tok: Tokenizer, eot: int) -> np.ndarray:
    docs = read_jsonl(PRETRAIN_JSONL)
    encs = tok.encode_batch([d["text"] for d in docs], add_special_tokens=False)
    out = []
    for e in encs:
        out.extend(e.ids)
        out.append(eot)
    return np.asarray(out, dtype=np.int64)


def val_chunks(tok: Tokenizer, ctx: int, per_doc: int) -> list[list[int]]:
    chunks = []
    for d in read_jsonl(TRAIN_JSONL):
        ids = tok.encode(d["text"], add_special_tokens=False).ids[:per_doc]
        for s in range(0, len(ids), ctx):
            c = ids[s:s + ctx]
            if len(c) >= 2:
                chunks.append(c)
    return chunks


@torch.no_grad()
def evaluate(model, chunks, device, amp, batch) -> float:
    model.eval()
    nll, n = 0.0, 0
    by_len: dict[int, list] = {}
    for c in chunks:
        by_len.setdefault(len(c), []).append(c)
    for length, group in sorted(by_len.items()):
        for i in range(0, len(group), batch):
            x = torch.tensor(group[i:i + batch], device=device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(input_ids=x).logits
            lp = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)),
                                 x[:, 1:].reshape(-1), reduction="sum")
            nll += lp.item()
            n += x.size(0) * (length - 1)
    model.train()
    return nll / n


def add_residual_dropout(model: LlamaForCausalLM, p: float) -> None:
    """Dropout on each attention / MLP output before the residual add (training
    only; the saved architecture is plain Llama)."""
    if p <= 0:
        return

    def hook(module, inputs, output):
        return F.dropout(output, p=p, training=module.training)

    for layer in model.model.layers:
        layer.self_attn.o_proj.register_forward_hook(hook)
        layer.mlp.down_proj.register_forward_hook(hook)


def lr_at(step: int, total: int, warmup: int, peak: float, final_frac: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * t)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    ap.add_argument("--tokenizer", type=Path, default=MODEL_DIR / "tokenizer.json")
    ap.add_argument("--out", type=Path, default=MODEL_DIR)
    ap.add_argument("--log", type=Path, default=HERE / "loss.csv")
    ap.add_argument("--summary", type=Path, default=HERE / "train_summary.json")
    ap.add_argument("--seed", type=int, default=SEED)
    # architecture
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--intermediate", type=int, default=688)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--ctx", type=int, default=1024)
    # optimisation
    ap.add_argument("--batch", type=int, default=32, help="sequences per step")
    ap.add_argument("--epochs", type=float, default=24)
    ap.add_argument("--max-steps", type=int, default=0, help="cap on steps (0: none), e.g. for a CPU smoke test")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--final-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.25)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--amp", choices=["auto", "on", "off"], default="auto", help="bf16 autocast (auto: on for cuda)")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--eval-every", type=int, default=0, help="steps between validations (0: once an epoch)")
    ap.add_argument("--val-tokens", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--attn", choices=["eager", "sdpa"], default="eager", help="attention kernel (eager is deterministic)")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp = args.amp == "on" or (args.amp == "auto" and device.type == "cuda")
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    tok = Tokenizer.from_file(str(args.tokenizer))
    eot = tok.token_to_id("<|endoftext|>")
    stream = token_stream(tok, eot)
    vchunks = val_chunks(tok, args.ctx, args.val_tokens)

    cfg = model_config(args, tok.get_vocab_size())
    torch.manual_seed(args.seed)
    # Eager attention: SDPA's fused backward is non-deterministic on CUDA, and two runs with the
    # same seed drifted 6.6% apart in held-out perplexity; eager repeats bit for bit.
    model = LlamaForCausalLM._from_config(cfg, attn_implementation=args.attn, dtype=torch.float32)
    model.to(device)
    add_residual_dropout(model, args.dropout)
    n_params = count_params(model)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8, **({"fused": True} if device.type == "cuda" else {}))

    windows_per_epoch = (len(stream) - args.ctx) // args.ctx        # valid for any offset < ctx
    steps_per_epoch = windows_per_epoch // args.batch
    total = int(round(args.epochs * steps_per_epoch))
    if args.max_steps:
        total = min(total, args.max_steps)
    eval_every = args.eval_every or steps_per_epoch
    rng = np.random.Generator(np.random.PCG64(args.seed))

    def batches():
        epoch = 0
        while True:
            off = int(rng.integers(0, args.ctx))
            starts = off + args.ctx * np.arange(windows_per_epoch)
            perm = rng.permutation(windows_per_epoch)
            for b in range(steps_per_epoch):
                idx = starts[perm[b * args.batch:(b + 1) * args.batch]]
                yield epoch, np.stack([stream[s:s + args.ctx] for s in idx])
            epoch += 1

    print(json.dumps({"params": n_params, "stream_tokens": int(len(stream)), "steps_per_epoch": steps_per_epoch,
                      "total_steps": total, "tokens_per_step": args.batch * args.ctx, "val_chunks": len(vchunks),
                      "device": str(device), "amp": amp}), flush=True)

    args.log.parent.mkdir(parents=True, exist_ok=True)
    logf = open(args.log, "w", newline="")
    w = csv.writer(logf)
    w.writerow(["step", "epoch", "tokens", "lr", "train_loss", "val_loss", "elapsed_s"])
    model.train()
    t0 = time.time()
    run_loss, run_n = 0.0, 0
    val = evaluate(model, vchunks, device, amp, args.batch)
    w.writerow([0, 0, 0, f"{0:.3e}", "", f"{val:.5f}", f"{0:.1f}"])
    gen = batches()
    step = 0
    for step in range(1, total + 1):
        epoch, xb = next(gen)
        lr = lr_at(step - 1, total, args.warmup, args.lr, args.final_lr_frac)
        for g in opt.param_groups:
            g["lr"] = lr
        x = torch.from_numpy(xb).to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(input_ids=x).logits
        loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        run_loss += loss.item() if step % args.log_every == 0 or step == total else loss.detach()
        run_n += 1
        val_s = ""
        if step % eval_every == 0 or step == total:
            val = evaluate(model, vchunks, device, amp, args.batch)
            val_s = f"{val:.5f}"
        if step % args.log_every == 0 or step == total or val_s:
            tl = float(run_loss) / run_n
            run_loss, run_n = 0.0, 0
            w.writerow([step, epoch, step * args.batch * args.ctx, f"{lr:.3e}", f"{tl:.5f}", val_s,
                        f"{time.time() - t0:.1f}"])
            logf.flush()
            if val_s:
                print(f"step {step}/{total} ep {epoch} train {tl:.4f} val {val:.4f} "
                      f"({time.time() - t0:.0f}s)", flush=True)
    elapsed = time.time() - t0
    logf.close()

    args.out.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu").float()
    model.config.use_cache = True
    model.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=0, pad_token_id=0)
    model.save_pretrained(str(args.out), safe_serialization=True)
    summary = {
        "params": n_params, "steps": total, "epochs": args.epochs, "tokens_seen": total * args.batch * args.ctx,
        "pretrain_stream_tokens": int(len(stream)), "final_val_loss": val, "final_val_ppl": math.exp(val),
        "train_seconds": round(elapsed, 1), "tokens_per_second": round(total * args.batch * args.ctx / elapsed),
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "python": sys.version.split()[0],
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("params", "steps", "final_val_loss", "final_val_ppl",
                                              "train_seconds", "tokens_per_second")}), flush=True)


if __name__ == "__main__":
    main()

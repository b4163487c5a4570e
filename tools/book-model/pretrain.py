"""Pretrain lemo-books on the book corpus (GPU, bf16 autocast, seeded), then measure it.

  python3 pretrain.py tokenize --shards a.txt.xz b.txt.xz --out tokens.u16
  python3 pretrain.py train --tokens tokens.u16 --out DIR --minutes 16 [--ctx 2048] [...]
  python3 pretrain.py report --model DIR --ctx 2048,4096 --out report.json

train: AdamW (0.9, 0.95), weight decay 0.1 on matrices, linear warm-up then cosine to 10% of the
peak. Epoch e draws (numpy PCG64, --seed) an offset in [0, ctx) and a permutation of the
non-overlapping ctx-token windows from it. With --minutes, the first 20 steps are timed and the
total number of steps is set so training ends within the budget (the figure is recorded in the
summary; `--steps N` repeats that run). The model is torch.compile'd; attention is PyTorch's SDPA
(flash), whose backward is not bit-deterministic, so two seeded runs agree closely, not exactly.

Elimination-aware continued pretraining: `train --init DIR --eliminate 5,6,7,8 --block 32
--keep-min 0.3 --keep-max 0.7 --dense-frac 0.25` starts from a saved model and runs each step, with
the oracle's elimination active in the listed layers (llama.forward_train_eliminating, mask-based),
at a keep ratio drawn uniformly per step (numpy PCG64, --seed + 1); a --dense-frac share of the
steps runs dense. With --init, the warm-up defaults to 50 steps and the peak lr to 1e-3.

report: held-out perplexity (the eval_ppl.py rule: each book tokenized alone, cut in ctx chunks),
and on held-out windows, per layer, the oracle's block-score statistics and the perplexity with the
oracle's elimination at keep 0.4 in the paper artifact's layers (first half and last dense).
"""
from __future__ import annotations

import argparse
import gzip
import json
import lzma
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llama import Config, Llama, forward_eliminating, forward_train_eliminating, save_hf  # noqa: E402
sys.path.append(str(Path(__file__).resolve().parent.parent / "default-model"))
from train import lr_at  # noqa: E402  (lemo-tiny's schedule: linear warm-up, cosine to final_frac)

EOT = "<|endoftext|>"


def load_tokenizer(path):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(path))


def cmd_tokenize(a):
    tok = load_tokenizer(a.tokenizer)
    parts = []
    for s in a.shards:
        with lzma.open(s, "rt", encoding="utf-8") if s.endswith(".xz") else open(s, encoding="utf-8") as f:
            books = [b.strip() for b in f.read().split(EOT) if b.strip()]
        t0 = time.time()
        enc = tok.encode_batch(books, add_special_tokens=False)
        for e in enc:
            parts.append(np.asarray(e.ids, dtype=np.uint16))
            parts.append(np.zeros(1, dtype=np.uint16))          # <|endoftext|> = 0 after each book
        print(f"{s}: {len(books)} books, {sum(len(e.ids) for e in enc)} tokens, {time.time() - t0:.0f}s", flush=True)
    arr = np.concatenate(parts)
    arr.tofile(a.out)
    print(json.dumps({"tokens": int(arr.size), "out": a.out}), flush=True)


def heldout_docs(path, tok):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        docs = [json.loads(l)["text"] for l in f if l.strip()]
    return [tok.encode(d, add_special_tokens=False).ids for d in docs]


@torch.no_grad()
def chunk_nll(model, docs, ctx, scale=1.0, batch=16, device="cuda", fwd=None):
    """Sum of NLL and token count over ctx chunks of each document (eval_ppl.py's rule).
    fwd(model, x, scale) replaces the dense forward (e.g. a sparse one)."""
    chunks = [d[s:s + ctx] for d in docs for s in range(0, len(d), ctx) if len(d[s:s + ctx]) >= 2]
    nll, n = 0.0, 0
    by_len = {}
    for c in chunks:
        by_len.setdefault(len(c), []).append(c)
    model.eval()
    for L, group in by_len.items():
        for i in range(0, len(group), batch):
            x = torch.tensor(group[i:i + batch], device=device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda"):  # eval: bf16 on the GPU only
                lg = model(x, scale) if fwd is None else fwd(model, x, scale)
            nll += float(F.cross_entropy(lg[:, :-1].float().reshape(-1, lg.size(-1)), x[:, 1:].reshape(-1), reduction="sum"))
            n += x.size(0) * (L - 1)
    model.train()
    return nll, n


def cmd_train(a):
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    dev = a.device
    stream = np.fromfile(a.tokens, dtype=np.uint16)
    if a.init:
        model = load_model(a.init, dev).train()
        c = model.c
        print(json.dumps({"init": a.init}), flush=True)
    else:
        c = Config(vocab=a.vocab, hidden=a.hidden, intermediate=a.intermediate, layers=a.layers, heads=a.heads,
                   kv_heads=a.kv_heads, ctx=a.ctx, rope_theta=a.rope_theta)
        model = Llama(c).to(dev)
    if a.warmup is None:
        a.warmup = 50 if a.init else 200
    if a.lr is None:
        a.lr = 1e-3 if a.init else 3e-3
    sparse = [int(v) for v in a.eliminate.split(",") if v.strip()] if a.eliminate else []
    assert all(0 <= l < c.layers for l in sparse), sparse
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, fused=dev == "cuda")

    def loss_fn(x):
        with torch.autocast(dev, dtype=torch.bfloat16):
            lg = model(x[:, :-1])
        return F.cross_entropy(lg.float().reshape(-1, lg.size(-1)), x[:, 1:].reshape(-1))

    def loss_elim(x, keep):
        """keep: a 0-d float64 tensor, so that the compiled graph does not depend on its value."""
        with torch.autocast(dev, dtype=torch.bfloat16):
            lg = forward_train_eliminating(model, x[:, :-1], sparse, keep, a.block)
        return F.cross_entropy(lg.float().reshape(-1, lg.size(-1)), x[:, 1:].reshape(-1))

    step_fn = torch.compile(loss_fn) if a.compile else loss_fn
    # --compile-elim: -1 follows --compile; 0 runs the eliminating step eagerly (fallback).
    compile_elim = a.compile if a.compile_elim < 0 else a.compile_elim
    elim_fn = torch.compile(loss_elim) if (sparse and compile_elim) else loss_elim
    keep_rng = np.random.Generator(np.random.PCG64(a.seed + 1))

    def draw_keep():
        """(dense?, keep) for one step; both numbers are drawn every step, so the sequence is fixed by the seed."""
        u, k = float(keep_rng.random()), float(keep_rng.uniform(a.keep_min, a.keep_max))
        return (not sparse) or u < a.dense_frac, k

    def elim_eval(m, x, scale):
        return forward_train_eliminating(m, x, sparse, a.eval_keep, a.block, scale)
    tok = load_tokenizer(a.tokenizer)
    val_docs = [d[:a.val_tokens] for d in heldout_docs(a.val, tok)]
    W = a.ctx + 1
    windows = (len(stream) - W) // a.ctx
    rng = np.random.Generator(np.random.PCG64(a.seed))

    def batches():
        epoch = 0
        while True:
            off = int(rng.integers(0, a.ctx))
            starts = off + a.ctx * np.arange(windows - 1)
            perm = rng.permutation(len(starts))
            for b in range(len(perm) // a.batch):
                idx = starts[perm[b * a.batch:(b + 1) * a.batch]]
                yield epoch, np.stack([stream[s:s + W] for s in idx]).astype(np.int64)
            epoch += 1

    gen = batches()
    total = a.steps or 10 ** 9
    Path(a.out).mkdir(parents=True, exist_ok=True)
    log = open(Path(a.out) / "loss.csv", "w")
    log.write("step,epoch,tokens,lr,train_loss,val_loss,val_loss_elim,elapsed_s\n")
    keep_dev = lambda k: torch.tensor(k, dtype=torch.float64, device=dev)  # noqa: E731
    t0 = time.time()                       # the --minutes budget counts the compile warm-up below
    if sparse and (a.compile or compile_elim):
        # Compile both step functions before the clock starts (forward + backward on one batch, no update),
        # so that the first dense / eliminating step does not land in the timed window.
        xw = torch.from_numpy(np.stack([stream[i * W:(i + 1) * W] for i in range(a.batch)]).astype(np.int64)).to(dev)
        tw = time.time()
        step_fn(xw).backward()
        elim_fn(xw, keep_dev(a.keep_min)).backward()
        elim_fn(xw, keep_dev(a.keep_max)).backward()
        opt.zero_grad(set_to_none=True)
        print(json.dumps({"compile_warmup_s": round(time.time() - tw, 1)}), flush=True)
    t_timed = None
    run, run_n = 0.0, 0
    step = 0
    n_dense, keep_sum = 0, 0.0
    t_first, t_last = 10, (50 if sparse else 30)
    print(json.dumps({"params": n_params, "stream_tokens": int(len(stream)), "tokens_per_step": a.batch * a.ctx,
                      "config": c.hf()}), flush=True)
    while step < total:
        epoch, xb = next(gen)
        lr = lr_at(step, total if a.steps or t_timed is not None else 10 ** 9, a.warmup, a.lr, a.final_lr_frac)
        for g in opt.param_groups:
            g["lr"] = lr
        x = torch.from_numpy(xb).to(dev, non_blocking=True)
        dense, keep = draw_keep()
        if dense:
            loss = step_fn(x)
            n_dense += 1
        else:
            loss = elim_fn(x, keep_dev(keep))
            keep_sum += keep
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        run += float(loss.detach()) if step % 50 == 0 else 0.0
        sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
        if step == t_first:
            sync(); t_timed = time.time()
        if step == t_last and not a.steps:
            sync()
            per = (time.time() - t_timed) / (t_last - t_first)
            budget = a.minutes * 60 - (time.time() - t0) - 60          # a minute for the evaluations
            total = t_last + max(0, int(budget / per))
            print(json.dumps({"seconds_per_step": per, "tokens_per_second": a.batch * a.ctx / per, "total_steps": total,
                              "token_passes": total * a.batch * a.ctx}), flush=True)
        if step % 50 == 0 or step % a.eval_every == 0 or step == total:
            val, val_e = "", ""
            if step % a.eval_every == 0 or step == total:
                nll, n = chunk_nll(model, val_docs, a.ctx, device=dev)
                val = f"{nll / n:.5f}"
                if sparse:
                    nll, n = chunk_nll(model, val_docs, a.ctx, device=dev, fwd=elim_eval)
                    val_e = f"{nll / n:.5f}"
            log.write(f"{step},{epoch},{step * a.batch * a.ctx},{lr:.3e},{float(loss.detach()):.5f},{val},{val_e},{time.time() - t0:.1f}\n")
            log.flush()
            print(f"step {step}/{total} ep {epoch} loss {float(loss.detach()):.4f} val {val} val_elim {val_e} lr {lr:.2e} "
                  f"{time.time() - t0:.0f}s", flush=True)
    elapsed = time.time() - t0
    save_hf(model, a.out)
    nll, n = chunk_nll(model, val_docs, a.ctx, device=dev)
    elim = {}
    if sparse:
        nll_e, n_e = chunk_nll(model, val_docs, a.ctx, device=dev, fwd=elim_eval)
        elim = {"eliminate": sparse, "block": a.block, "dense_steps": n_dense,
                "mean_keep_sparse_steps": keep_sum / max(1, step - n_dense),
                f"final_val_loss_elim_keep{a.eval_keep:g}": nll_e / n_e, f"final_val_ppl_elim_keep{a.eval_keep:g}": math.exp(nll_e / n_e)}
    summary = {"params": n_params, **elim, "steps": step, "token_passes": step * a.batch * a.ctx, "stream_tokens": int(len(stream)),
               "epochs": step * a.batch * a.ctx / len(stream), "final_val_loss": nll / n, "final_val_ppl": math.exp(nll / n),
               "train_seconds": round(elapsed, 1), "tokens_per_second": round(step * a.batch * a.ctx / elapsed),
               "device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", "torch": torch.__version__, "args": vars(a)}
    (Path(a.out) / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary), flush=True)


def load_model(d, dev="cuda"):
    from safetensors.torch import load_file
    cfg = json.loads((Path(d) / "config.json").read_text())
    c = Config(vocab=cfg["vocab_size"], hidden=cfg["hidden_size"], intermediate=cfg["intermediate_size"],
               layers=cfg["num_hidden_layers"], heads=cfg["num_attention_heads"], kv_heads=cfg["num_key_value_heads"],
               ctx=cfg["max_position_embeddings"], rope_theta=cfg.get("rope_theta", 10000.0), eps=cfg["rms_norm_eps"])
    m = Llama(c)
    m.load_state_dict({k: v.float() for k, v in load_file(str(Path(d) / "model.safetensors")).items()})
    return m.to(dev).eval()


def check_hf(d, dev="cuda"):
    """Largest relative difference between this file's forward and transformers' on the saved folder."""
    from transformers import LlamaForCausalLM
    ours = load_model(d, dev)
    hf = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32).to(dev).eval()
    x = torch.randint(0, ours.c.vocab, (2, 512), device=dev)
    with torch.no_grad():
        a, b = ours(x), hf(input_ids=x).logits
    return float((a - b).norm() / b.norm())


@torch.no_grad()
def cmd_report(a):
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(a.model, dev)
    tok = load_tokenizer(Path(a.model) / "tokenizer.json")
    docs = heldout_docs(a.heldout, tok)
    out = {"hf_max_rel_diff": check_hf(a.model, dev)}
    native = model.c.ctx
    for ctx in [int(v) for v in a.ctx.split(",")]:
        scale = max(1.0, ctx / native)
        nll, n = chunk_nll(model, docs, ctx, scale, batch=4, device=dev)
        r = {"rope_scale": scale, "heldout_ppl": math.exp(nll / n), "tokens": n}
        # Windows for the sparsity statistics: the first ctx tokens of each held-out book.
        wins = [d[:ctx] for d in docs if len(d) >= ctx][: a.windows]
        L = model.c.layers
        sparse = [None if (l < L / 2 or l == L - 1) else 0.4 for l in range(L)]
        # Further frozen-cost policies: the artifact's layers at keep 0.6, and layers 2..L-2 (2-8 for 10 layers).
        wide = lambda keep: [keep if 2 <= l < L - 1 else None for l in range(L)]  # noqa: E731
        extra = {"window_ppl_oracle_keep06": [None if p is None else 0.6 for p in sparse],
                 f"window_ppl_oracle_layers2_{L - 2}_keep04": wide(0.4),
                 f"window_ppl_oracle_layers2_{L - 2}_keep06": wide(0.6)}
        for block in [int(b) for b in a.blocks.split(",")]:
            stats = {}
            nll_d, nll_s, cnt = 0.0, 0.0, 0
            nll_x = {k: 0.0 for k in extra}
            for w in wins:
                x = torch.tensor([w], device=dev)
                lg_d = forward_eliminating(model, x, None, block, scale, stats)
                lg_s = forward_eliminating(model, x, sparse, block, scale)
                nll_d += float(F.cross_entropy(lg_d[0, :-1].float(), x[0, 1:], reduction="sum"))
                nll_s += float(F.cross_entropy(lg_s[0, :-1].float(), x[0, 1:], reduction="sum"))
                for k, pol in extra.items():
                    lg_x = forward_eliminating(model, x, pol, block, scale)
                    nll_x[k] += float(F.cross_entropy(lg_x[0, :-1].float(), x[0, 1:], reduction="sum"))
                cnt += ctx - 1
            per_layer = [{k: sum(s[k] for s in stats[l]) / len(stats[l]) for k in stats[l][0]} for l in range(L)]
            r[f"block{block}"] = {"windows": len(wins), "per_layer": per_layer, "policy": sparse,
                                  "window_ppl_dense": math.exp(nll_d / cnt), "window_ppl_oracle_keep04": math.exp(nll_s / cnt),
                                  **{k: math.exp(v / cnt) for k, v in nll_x.items()},
                                  "extra_policies": {k: v for k, v in extra.items()}}
        out[str(ctx)] = r
        print(json.dumps({ctx: r}), flush=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")


def cmd_sample(a):
    """Greedy and top-p continuations of a few prompts (for the model card)."""
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(a.model, dev)
    tok = load_tokenizer(Path(a.model) / "tokenizer.json")
    g = torch.Generator(device=dev).manual_seed(0)
    res = []
    for prompt in a.prompts:
        for mode in ("greedy", "top_p"):
            ids = tok.encode(prompt, add_special_tokens=False).ids
            for _ in range(a.tokens):
                with torch.no_grad():
                    lg = model(torch.tensor([ids[-model.c.ctx:]], device=dev))[0, -1].float()
                if mode == "greedy":
                    nxt = int(lg.argmax())
                else:
                    p = torch.softmax(lg / 0.8, -1)
                    sp, si = p.sort(descending=True)
                    keep = (sp.cumsum(0) - sp) < 0.9
                    nxt = int(si[keep][torch.multinomial(sp[keep] / sp[keep].sum(), 1, generator=g)])
                ids.append(nxt)
            res.append({"prompt": prompt, "mode": mode, "text": tok.decode(ids)})
    Path(a.out).write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
    for r in res:
        print(json.dumps(r, ensure_ascii=False))


def main():
    here = Path(__file__).resolve().parent
    root = here.parents[1]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tokenize")
    t.add_argument("--shards", nargs="+", required=True)
    t.add_argument("--tokenizer", default=str(root / "public/models/lemo-books/tokenizer.json"))
    t.add_argument("--out", required=True)
    r = sub.add_parser("train")
    r.add_argument("--tokens", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--tokenizer", default=str(root / "public/models/lemo-books/tokenizer.json"))
    r.add_argument("--val", default=str(root / "public/data/books-long/train.jsonl.gz"))
    r.add_argument("--seed", type=int, default=1234)
    r.add_argument("--vocab", type=int, default=8192)
    r.add_argument("--hidden", type=int, default=256)
    r.add_argument("--intermediate", type=int, default=704)
    r.add_argument("--layers", type=int, default=10)
    r.add_argument("--heads", type=int, default=4)
    r.add_argument("--kv-heads", type=int, default=2)
    r.add_argument("--rope-theta", type=float, default=10000.0)
    r.add_argument("--ctx", type=int, default=2048)
    r.add_argument("--batch", type=int, default=64)
    r.add_argument("--lr", type=float, default=None, help="peak lr (default 3e-3; 1e-3 with --init)")
    r.add_argument("--final-lr-frac", type=float, default=0.1)
    r.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 200; 50 with --init)")
    r.add_argument("--weight-decay", type=float, default=0.1)
    r.add_argument("--steps", type=int, default=0, help="fixed step count (0: fit --minutes)")
    r.add_argument("--minutes", type=float, default=15)
    r.add_argument("--eval-every", type=int, default=500)
    r.add_argument("--device", default="cuda")
    r.add_argument("--val-tokens", type=int, default=32768, help="validation: the first N tokens of each book")
    r.add_argument("--compile", type=int, default=1)
    r.add_argument("--init", default="", help="continue from a saved model folder (config.json + model.safetensors)")
    r.add_argument("--eliminate", default="", help="sparse layers, e.g. 5,6,7,8: oracle elimination active in training")
    r.add_argument("--keep-min", type=float, default=0.3)
    r.add_argument("--keep-max", type=float, default=0.7)
    r.add_argument("--dense-frac", type=float, default=0.25, help="share of the steps run dense (with --eliminate)")
    r.add_argument("--block", type=int, default=32)
    r.add_argument("--eval-keep", type=float, default=0.4, help="keep ratio of the eliminating validation loss")
    r.add_argument("--compile-elim", type=int, default=-1, help="compile the eliminating step (-1: as --compile; 0: eager)")
    p = sub.add_parser("report")
    p.add_argument("--model", required=True)
    p.add_argument("--heldout", default=str(root / "public/data/books-long/heldout.jsonl.gz"))
    p.add_argument("--ctx", default="2048,4096")
    p.add_argument("--blocks", default="32,64")
    p.add_argument("--windows", type=int, default=6)
    p.add_argument("--out", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--model", required=True)
    s.add_argument("--prompts", nargs="+", default=["It was a dark and stormy night; the rain fell in torrents, and",
                                                      "The old man looked at the letter for a long time. At last he said,"])
    s.add_argument("--tokens", type=int, default=80)
    s.add_argument("--out", required=True)
    a = ap.parse_args()
    {"tokenize": cmd_tokenize, "train": cmd_train, "report": cmd_report, "sample": cmd_sample}[a.cmd](a)


if __name__ == "__main__":
    main()

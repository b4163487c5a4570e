"""Perplexity of a causal LM on a JSONL file of documents, with transformers.

    python3 eval_ppl.py --model DIR --data FILE.jsonl --ctx N [--rope-scale S]

prints one JSON line {"perplexity": P, "tokens": T}.

The rule (the TypeScript engine implements exactly this):
  1. Each line of FILE.jsonl is a JSON object; its "text" field is one document.
  2. Each document is tokenized on its own with no special tokens:
     ids = tokenizer(text, add_special_tokens=False)["input_ids"]  (no bos, no eos;
     for lemo-tiny this equals plain tokenizer(text)["input_ids"]).
  3. Each document's ids are cut into consecutive non-overlapping chunks of N
     tokens: ids[0:N], ids[N:2N], ...; the last, shorter chunk is kept if it has
     at least 2 tokens, dropped otherwise.  Chunks never span two documents, and
     each chunk is run on its own (positions 0..len-1, no cache from the
     previous chunk).
  4. In a chunk c of length L, positions 1..L-1 are predicted: the loss is
     sum_{i=1}^{L-1} -log softmax(logits[i-1])[c[i]]  (natural log).
  5. total_nll = sum over all chunks of all documents; tokens = sum of (L-1);
     perplexity = exp(total_nll / tokens).
--rope-scale S (S > 1) applies linear RoPE position interpolation (positions
divided by S: rope_type "linear", factor S) to the loaded model.
The model runs in float32; the sum is accumulated in float64.
"""
from __future__ import annotations

import argparse
import json
import math

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer


def load(model_dir: str, rope_scale: float | None = None, device: str = "cpu"):
    cfg = AutoConfig.from_pretrained(model_dir)
    if rope_scale and rope_scale != 1.0:
        if hasattr(cfg, "rope_parameters") and cfg.rope_parameters is not None:        # transformers >= 5
            rp = dict(cfg.rope_parameters)
            rp.update({"rope_type": "linear", "factor": float(rope_scale)})
            cfg.rope_parameters = rp
        else:                                                                           # transformers 4.x
            cfg.rope_scaling = {"rope_type": "linear", "factor": float(rope_scale)}
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, config=cfg, dtype=torch.float32)
    model.to(device).eval()
    return tok, model


def chunks_of(ids: list[int], ctx: int) -> list[list[int]]:
    out = []
    for s in range(0, len(ids), ctx):
        c = ids[s:s + ctx]
        if len(c) >= 2:
            out.append(c)
    return out


@torch.no_grad()
def perplexity(tok, model, texts: list[str], ctx: int, batch: int = 8, device: str = "cpu") -> dict:
    chunks = []
    for text in texts:
        chunks.extend(chunks_of(tok(text, add_special_tokens=False)["input_ids"], ctx))
    by_len: dict[int, list[list[int]]] = {}
    for c in chunks:
        by_len.setdefault(len(c), []).append(c)
    nll = 0.0
    n = 0
    for length, group in sorted(by_len.items()):
        for i in range(0, len(group), batch):
            x = torch.tensor(group[i:i + batch], dtype=torch.long, device=device)
            logits = model(input_ids=x, use_cache=False).logits.float()
            lp = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1),
                                 reduction="none")
            nll += float(lp.double().sum())
            n += x.size(0) * (length - 1)
    return {"perplexity": math.exp(nll / n), "tokens": n}


def read_texts(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--ctx", type=int, required=True)
    ap.add_argument("--rope-scale", type=float, default=None)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    tok, model = load(args.model, args.rope_scale, args.device)
    res = perplexity(tok, model, read_texts(args.data), args.ctx, args.batch, args.device)
    print(json.dumps(res))


if __name__ == "__main__":
    main()

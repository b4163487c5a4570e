"""Evaluate the trained model and write tools/default-model/results.json.

* held-out perplexity at ctx 1024 (eval_ppl.py rule, transformers, float32, CPU)
* unigram baseline on the same positions (unigram_ppl.py) and the ratio
* for reference: held-out perplexity at ctx 512, 2048 and 4096 (4096 also with
  --rope-scale 4), and, unless --skip-train-eval, the pretraining-corpus
  perplexity at 1024 in eval mode (no dropout; ~12 min on 2 CPU cores)
"""
from __future__ import annotations

import argparse
import json
import math
import os

from tokenizers import Tokenizer

from common import HELDOUT_JSONL, HERE, MODEL_DIR, PRETRAIN_JSONL, read_jsonl
from eval_ppl import chunks_of, load, perplexity, read_texts
from unigram_ppl import unigram_logprobs


def unigram(tok: Tokenizer, texts: list[str], ctx: int) -> dict:
    lp = unigram_logprobs(tok)
    nll, n = 0.0, 0
    for t in texts:
        for c in chunks_of(tok.encode(t, add_special_tokens=False).ids, ctx):
            nll -= float(lp[c[1:]].sum())
            n += len(c) - 1
    return {"perplexity": math.exp(nll / n), "tokens": n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(MODEL_DIR))
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument("--skip-train-eval", action="store_true")
    ap.add_argument("--skip-extra", action="store_true")
    args = ap.parse_args()

    heldout = read_texts(str(HELDOUT_JSONL))
    tok, model = load(args.model)
    res: dict = {}
    h = perplexity(tok, model, heldout, 1024)
    u = unigram(Tokenizer.from_file(os.path.join(args.model, "tokenizer.json")), heldout, 1024)
    assert h["tokens"] == u["tokens"]
    res.update({"heldout_ppl_1024": h["perplexity"], "heldout_tokens_1024": h["tokens"],
                "unigram_ppl_1024": u["perplexity"], "ratio_model_to_unigram": h["perplexity"] / u["perplexity"]})
    print(json.dumps(res), flush=True)
    if not args.skip_extra:
        extra = {}
        for ctx in (512, 2048, 4096):
            extra[f"heldout_ppl_{ctx}"] = perplexity(tok, model, heldout, ctx)["perplexity"]
            print(ctx, extra[f"heldout_ppl_{ctx}"], flush=True)
        tok4, model4 = load(args.model, rope_scale=4.0)
        extra["heldout_ppl_4096_rope_scale_4"] = perplexity(tok4, model4, heldout, 4096)["perplexity"]
        res["extra"] = extra
    if not args.skip_train_eval:
        t = perplexity(tok, model, [d["text"] for d in read_jsonl(PRETRAIN_JSONL)], 1024)
        res["pretrain_corpus_ppl_1024"] = t["perplexity"]
        res["pretrain_corpus_loss_1024"] = math.log(t["perplexity"])
        res["pretrain_corpus_tokens_1024"] = t["tokens"]
    res["params"] = sum(p.numel() for p in model.parameters())
    res["files_bytes"] = {f: os.path.getsize(os.path.join(args.model, f)) for f in sorted(os.listdir(args.model))}
    with open(args.out, "w") as f:
        f.write(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()

"""Unigram baseline perplexity on the same positions that eval_ppl.py scores.

p(t) = (count(t) + 1) / (N + V): counts of every token id over the tokenized
pretraining documents (.cache/corpus/pretrain.jsonl, no special tokens, the
<|endoftext|> separators not counted), add-one smoothing over the whole
vocabulary V.  Scored positions: those of the eval_ppl.py rule at --ctx (every
token of a document except the first token of each ctx-chunk).

    python3 unigram_ppl.py --model DIR --data FILE.jsonl --ctx N
prints {"perplexity": P, "tokens": T}.
"""
from __future__ import annotations

import argparse
import json
import math

import numpy as np
from tokenizers import Tokenizer

from common import MODEL_DIR, PRETRAIN_JSONL, read_jsonl
from eval_ppl import chunks_of


def unigram_logprobs(tok: Tokenizer) -> np.ndarray:
    V = tok.get_vocab_size()
    counts = np.zeros(V, dtype=np.float64)
    for e in tok.encode_batch([d["text"] for d in read_jsonl(PRETRAIN_JSONL)], add_special_tokens=False):
        counts += np.bincount(np.asarray(e.ids), minlength=V)
    return np.log((counts + 1.0) / (counts.sum() + V))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(MODEL_DIR))
    ap.add_argument("--data", required=True)
    ap.add_argument("--ctx", type=int, required=True)
    args = ap.parse_args()
    tok = Tokenizer.from_file(f"{args.model}/tokenizer.json")
    lp = unigram_logprobs(tok)
    nll, n = 0.0, 0
    for d in read_jsonl(args.data):
        for c in chunks_of(tok.encode(d["text"], add_special_tokens=False).ids, args.ctx):
            nll -= float(lp[np.asarray(c[1:])].sum())
            n += len(c) - 1
    print(json.dumps({"perplexity": math.exp(nll / n), "tokens": n}))


if __name__ == "__main__":
    main()

"""Write the small committed eval slice for the TypeScript engine's test.

test/fixtures/eval-slice/slice.jsonl: two excerpts (~1500 tokens each, cut at
the end of a sentence) from the first two held-out addresses;
expected.json: {"ctx": 512, "perplexity": P, "tokens": T} from eval_ppl.py;
tokens.json: the token ids of each excerpt (tokenizer check).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenizers import Tokenizer

from common import HELDOUT_JSONL, MODEL_DIR, SLICE_DIR, read_jsonl, write_jsonl
from eval_ppl import load, perplexity

TARGET = 1500
CTX = 512


def excerpt(tok: Tokenizer, text: str, target: int) -> str:
    enc = tok.encode(text, add_special_tokens=False)
    end_char = enc.offsets[target - 1][1] if len(enc.ids) > target else len(text)
    cut = text.rfind(". ", 0, end_char)
    return text[:cut + 1] if cut > 0 else text[:end_char]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=MODEL_DIR)
    ap.add_argument("--out", type=Path, default=SLICE_DIR)
    args = ap.parse_args()
    tok = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    rows = []
    for d in read_jsonl(HELDOUT_JSONL)[:2]:
        rows.append({"text": excerpt(tok, d["text"], TARGET), "title": d["title"], "year": d["year"]})
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "slice.jsonl", rows)
    htok, model = load(str(args.model))
    res = perplexity(htok, model, [r["text"] for r in rows], CTX)
    (args.out / "expected.json").write_text(
        json.dumps({"ctx": CTX, "perplexity": res["perplexity"], "tokens": res["tokens"]}, indent=2) + "\n")
    ids = [htok(r["text"], add_special_tokens=False)["input_ids"] for r in rows]
    (args.out / "tokens.json").write_text(
        json.dumps({"tokenizer": "public/models/lemo-tiny/tokenizer.json", "add_special_tokens": False,
                    "input_ids": ids}) + "\n")
    print(json.dumps({"ctx": CTX, **res, "doc_tokens": [len(i) for i in ids]}))


if __name__ == "__main__":
    main()

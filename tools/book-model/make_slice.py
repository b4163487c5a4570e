"""Test slice for lemo-books (test/fixtures/books-slice/): two excerpts of about 1500 tokens from
the first two held-out books, the ids Python's tokenizers gives them, and the perplexity
transformers computes at ctx 512 (tools/default-model/eval_ppl.py's rule, float32 on the CPU)."""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent / "default-model"))
from tokenizers import Tokenizer  # noqa: E402
from eval_ppl import load, perplexity  # noqa: E402
from make_slice import CTX, TARGET, excerpt  # noqa: E402

MODEL = ROOT / "public/models/lemo-books"
OUT = ROOT / "test/fixtures/books-slice"


def main() -> None:
    tok = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    with gzip.open(ROOT / "public/data/books-long/heldout.jsonl.gz", "rt", encoding="utf-8") as f:
        books = [json.loads(l) for l in f if l.strip()][:2]
    rows = [{"text": excerpt(tok, b["text"], TARGET), "source": b["source"]} for b in books]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "slice.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    htok, model = load(str(MODEL))
    res = perplexity(htok, model, [r["text"] for r in rows], CTX)
    (OUT / "expected.json").write_text(json.dumps({"ctx": CTX, "perplexity": res["perplexity"], "tokens": res["tokens"]}, indent=2) + "\n")
    ids = [htok(r["text"], add_special_tokens=False)["input_ids"] for r in rows]
    (OUT / "tokens.json").write_text(json.dumps({"tokenizer": "public/models/lemo-books/tokenizer.json", "add_special_tokens": False, "input_ids": ids}) + "\n")
    print(json.dumps({"ctx": CTX, **res, "doc_tokens": [len(i) for i in ids]}))


if __name__ == "__main__":
    main()

"""The small test model's data (public/data/books-short/): the opening of each book of
public/data/books-long, cut at the last paragraph break before a number of characters, so that a
page opened on lemo-tiny counts its tokens in a fraction of the time the whole books take."""
from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def opening(text: str, chars: int) -> str:
    """The text's first paragraphs that fit in chars characters (at least one paragraph's worth)."""
    if len(text) <= chars:
        return text
    cut = text.rfind("\n\n", 0, chars)
    return text[: cut if cut > chars // 2 else chars]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train-chars", type=int, default=40_000)
    ap.add_argument("--heldout-chars", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=ROOT / "public/data/books-short")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for name, chars in (("train", a.train_chars), ("heldout", a.heldout_chars)):
        with gzip.open(ROOT / f"public/data/books-long/{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            books = [json.loads(l) for l in f if l.strip()]
        texts = [opening(b["text"], chars) for b in books]
        lines = "".join(json.dumps({**b, "text": t}, ensure_ascii=False) + "\n" for b, t in zip(books, texts))
        # mtime 0 and no file name in the header: the same bytes on every run.
        with open(a.out / f"{name}.jsonl.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0, compresslevel=9) as gz:
            gz.write(lines.encode("utf-8"))
        print(f"{name}: {len(books)} books, {sum(map(len, texts)):,} characters")


if __name__ == "__main__":
    main()

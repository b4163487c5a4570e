"""Write public/data/sotu-long/README.md (origin, licence, addresses, token counts)."""
from __future__ import annotations

import json

from tokenizers import Tokenizer

from common import (DATA_DIR, HELDOUT_JSONL, MANIFEST, MODEL_DIR, MOBY_PKG, N_LONG, SOTU_PKG, TRAIN_JSONL,
                    read_jsonl)


def main() -> None:
    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    man = json.loads(MANIFEST.read_text())
    parts = {}
    for name, path in (("train", TRAIN_JSONL), ("heldout", HELDOUT_JSONL)):
        rows = read_jsonl(path)
        for r in rows:
            r["tokens"] = len(tok.encode(r["text"], add_special_tokens=False).ids)
        parts[name] = rows

    def table(rows):
        out = ["| year | president | id | characters | tokens |", "| ---: | --- | --- | ---: | ---: |"]
        for r in rows:
            out.append(f"| {r['year']} | {r['president']} | `{r['id']}` | {len(r['text']):,} | {r['tokens']:,} |")
        return "\n".join(out)

    def stats(rows):
        t = [r["tokens"] for r in rows]
        return (f"{len(rows)} documents, {sum(t):,} tokens (min {min(t):,}, median {sorted(t)[len(t)//2]:,}, "
                f"max {max(t):,}), {sum(len(r['text']) for r in rows):,} characters")

    md = f"""# sotu-long: long State of the Union addresses for fine-tuning

Default fine-tuning data set of LeMo Studio: {len(parts['train']) + len(parts['heldout'])} long U.S. State of the
Union addresses, one document a line, disjoint from the text the default model
`public/models/lemo-tiny` was pretrained on.

| file | contents |
| --- | --- |
| `train.jsonl` | {stats(parts['train'])} |
| `heldout.jsonl` | {stats(parts['heldout'])} |

Tokens are counted with `public/models/lemo-tiny/tokenizer.json`, no special
tokens added (`tokenizer(text)["input_ids"]`). Every document has at least
4096 tokens (the shortest has {min(r['tokens'] for p in parts.values() for r in p):,}).

Each line is a JSON object: `text` (the address), `title`
("State of the Union Address, NAME (YEAR)"), `year` (integer), and, for
provenance, `president` and `id` (the file name in the npm package, without
extension).

## Origin

* Text: npm package `{SOTU_PKG}` (stdlib-js, files `data/*.json`, field `text`),
  which took the addresses from Wikisource. The package's `datapackage.json`
  gives the data licence as `PDDL-1.0 AND CC0-1.0`.
* Cleaning: Unicode NFC, control characters removed (one U+0002 in the
  package), surrounding whitespace stripped. The addresses are one paragraph
  each (no line breaks) in the package, and are kept that way.
* Selection (`tools/default-model/prepare_data.py`, deterministic): the {N_LONG}
  longest of the package's 233 addresses (by characters) are held out of
  pretraining entirely. Sorted by year, those at index 3, 10, 17, 24, 31, 38
  form `heldout.jsonl`, the other {len(parts['train'])} form `train.jsonl`.
* The model was pretrained on the other {man['pretrain_sotu_docs']} addresses plus
  Moby-Dick (`{MOBY_PKG}`); the held-out file is also the model's
  pretraining-domain test set (perplexity at context 1024).

## Licence

The addresses are speeches of U.S. Presidents, works of the U.S. federal
government, and are in the public domain (the package marks the data
`PDDL-1.0 AND CC0-1.0`). The stdlib package's code is Apache-2.0
(Copyright (c) 2016-2026 The Stdlib Authors); none of that code is included here.

## train.jsonl

{table(parts['train'])}

## heldout.jsonl

{table(parts['heldout'])}

Regenerate with `tools/default-model/run.sh` (steps `data` and `tokenizer`).
"""
    (DATA_DIR / "README.md").write_text(md, encoding="utf-8")
    print(f"wrote {DATA_DIR / 'README.md'}")
    print(stats(parts["train"]))
    print(stats(parts["heldout"]))


if __name__ == "__main__":
    main()

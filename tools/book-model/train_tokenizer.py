"""Train lemo-books' byte-level BPE (8192 tokens) on the first --chars characters of the
pretraining corpus (whole books, in corpus order). Same construction as lemo-tiny's tokenizer
(tools/default-model/train_tokenizer.py): GPT-2 split regex and byte map, one special token
<|endoftext|> (id 0) used as bos/eos/unk/pad, no normalizer and no post-processor."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "default-model"))
from train_tokenizer import build  # noqa: E402

EOT = "<|endoftext|>"


def books(path: Path, chars: int):
    text = path.read_text(encoding="utf-8")[:chars]
    return [b.strip() for b in text.split(EOT) if b.strip()][:-1]   # the last book is cut: dropped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=HERE / ".cache" / "corpus" / "pretrain.txt")
    ap.add_argument("--chars", type=int, default=100_000_000)
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    texts = books(args.corpus, args.chars)
    tok = build(texts, args.vocab_size)
    assert tok.get_vocab_size() == args.vocab_size and tok.token_to_id(EOT) == 0
    args.out.mkdir(parents=True, exist_ok=True)
    tok.save(str(args.out / "tokenizer.json"), pretty=False)
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": EOT, "eos_token": EOT, "unk_token": EOT,
           "pad_token": EOT, "add_bos_token": False, "add_eos_token": False, "clean_up_tokenization_spaces": False}
    (args.out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    print(f"tokenizer: {len(texts)} books, vocab {tok.get_vocab_size()} -> {args.out}")


if __name__ == "__main__":
    main()

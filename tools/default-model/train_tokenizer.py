"""Train the byte-level BPE tokenizer on the pretraining corpus only.

Writes tokenizer.json and tokenizer_config.json into public/models/lemo-tiny/
(or --out).  GPT-2 style: ByteLevel pre-tokenizer (add_prefix_space=False,
use_regex=True, i.e. the GPT-2 split regex), ByteLevel decoder, no normalizer,
no post-processor (so no token is ever added to an encoding), one special
token <|endoftext|> (id 0) used as bos/eos/unk/pad.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from common import EOT, MODEL_DIR, PRETRAIN_JSONL, VOCAB_SIZE, read_jsonl


def build(texts: list[str], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=MODEL_DIR)
    ap.add_argument("--vocab-size", type=int, default=VOCAB_SIZE)
    args = ap.parse_args()

    texts = [d["text"] for d in read_jsonl(PRETRAIN_JSONL)]
    tok = build(texts, args.vocab_size)
    assert tok.get_vocab_size() == args.vocab_size, tok.get_vocab_size()
    assert tok.token_to_id(EOT) == 0
    args.out.mkdir(parents=True, exist_ok=True)
    tok.save(str(args.out / "tokenizer.json"), pretty=False)

    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": EOT,
        "eos_token": EOT,
        "unk_token": EOT,
        "pad_token": EOT,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
    }
    (args.out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    print(f"tokenizer: vocab {tok.get_vocab_size()} -> {args.out / 'tokenizer.json'}")


if __name__ == "__main__":
    main()

"""The exported adapter and merged model, loaded by transformers + PEFT, against the engine.

    npx lemo eval --data FILE --ctx N --adapter ADAPTER --dump-ids ids.json
    python3 tools/peft-roundtrip/roundtrip.py --model BASE --adapter ADAPTER \
        [--merged MERGED] --ids ids.json [--data FILE] [--tol 1e-4]

ids.json (written by `lemo eval --dump-ids`) holds the chunks of token ids the engine
evaluated and the loss it got (mean negative log-likelihood per predicted token). This
script runs the same chunks through
  1. the base model with the adapter loaded by peft.PeftModel.from_pretrained, and
  2. the merged folder loaded by transformers alone (AutoModelForCausalLM),
each in float32 with the sum in float64, and compares both losses to the engine's
(relative error, must be within --tol). It also compares the merged folder's weights with
PEFT's own merge_and_unload() of the same adapter. With --data, it checks that
transformers' tokenizer gives the engine's chunks. Prints one JSON object; exits 1 when a
check fails.
"""
from __future__ import annotations

import argparse
import json
import sys

import torch
import torch.nn.functional as F
from peft import PeftModel
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer


def load_base(model_dir: str, rope_scale: float | None):
    cfg = AutoConfig.from_pretrained(model_dir)
    rp = getattr(cfg, "rope_parameters", None)
    current = (rp or {}).get("factor") or (getattr(cfg, "rope_scaling", None) or {}).get("factor") or 1.0
    if rope_scale and float(rope_scale) != float(current):
        if rp is not None:  # transformers >= 5
            cfg.rope_parameters = {**dict(rp), "rope_type": "linear", "factor": float(rope_scale)}
        else:
            cfg.rope_scaling = {"rope_type": "linear", "factor": float(rope_scale)}
    return AutoModelForCausalLM.from_pretrained(model_dir, config=cfg, dtype=torch.float32).eval()


@torch.no_grad()
def mean_nll(model, chunks: list[list[int]]) -> tuple[float, int]:
    nll, tokens = 0.0, 0
    for c in chunks:
        ids = torch.tensor([c])
        logits = model(input_ids=ids).logits[0, :-1].float()
        nll += F.cross_entropy(logits, ids[0, 1:], reduction="sum").double().item()
        tokens += len(c) - 1
    return nll / tokens, tokens


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the base model's Hugging Face folder")
    ap.add_argument("--adapter", required=True, help="the exported PEFT adapter folder")
    ap.add_argument("--merged", help="the exported merged model folder")
    ap.add_argument("--ids", required=True, help="JSON from `lemo eval --dump-ids`")
    ap.add_argument("--data", help="the dataset the engine evaluated: check transformers' tokenizer gives the same chunks")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dump = json.load(open(a.ids))
    chunks, engine = dump["input_ids"], float(dump["loss"])
    out: dict = {"engine_loss": engine, "chunks": len(chunks), "ctx": dump["ctx"], "tol": a.tol}
    ok = True

    if a.data:
        tok = AutoTokenizer.from_pretrained(a.model)
        ref = []
        for line in open(a.data, encoding="utf-8"):
            if line.strip():
                text = json.loads(line)["text"] if a.data.endswith(".jsonl") else line
                if text.strip():
                    ids = tok(text, add_special_tokens=False)["input_ids"]
                    ref += [ids[s:s + dump["ctx"]] for s in range(0, len(ids), dump["ctx"]) if len(ids) - s >= 2]
        out["tokens_agree"] = ref == chunks
        ok &= out["tokens_agree"]

    base = load_base(a.model, dump.get("rope_scale"))
    peft_model = PeftModel.from_pretrained(base, a.adapter).eval()
    out["peft_loss"], out["tokens"] = mean_nll(peft_model, chunks)
    out["peft_rel_err"] = rel(out["peft_loss"], engine)
    ok &= out["peft_rel_err"] <= a.tol

    if a.merged:
        merged = AutoModelForCausalLM.from_pretrained(a.merged, dtype=torch.float32).eval()
        out["merged_loss"], _ = mean_nll(merged, chunks)
        out["merged_rel_err"] = rel(out["merged_loss"], engine)
        ok &= out["merged_rel_err"] <= a.tol
        # The folder's weights against PEFT's own merge of the same adapter.
        reference = peft_model.merge_and_unload().state_dict()
        mine = merged.state_dict()
        missing = sorted(set(reference) ^ set(mine))
        worst = 0.0
        for name, w in reference.items():
            if name in mine:
                worst = max(worst, ((mine[name].double() - w.double()).abs().max() / w.double().abs().max().clamp_min(1e-30)).item())
        out["merged_weights_max_rel_err"] = worst
        out["merged_weights_name_mismatch"] = missing
        ok &= not missing and worst <= a.tol

    out["ok"] = bool(ok)
    print(json.dumps(out))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

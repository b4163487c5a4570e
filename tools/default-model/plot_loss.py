"""Plot loss.csv (train loss with dropout active, validation loss) to loss.png."""
from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from common import HERE  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", type=Path, default=HERE / "loss.csv")
    ap.add_argument("--results", type=Path, default=HERE / "results.json")
    ap.add_argument("--out", type=Path, default=HERE / "loss.png")
    args = ap.parse_args()
    rows = list(csv.DictReader(open(args.log)))
    tr = [(int(r["tokens"]) / 1e6, float(r["train_loss"])) for r in rows if r["train_loss"]]
    va = [(int(r["tokens"]) / 1e6, float(r["val_loss"])) for r in rows if r["val_loss"]]
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    ax.plot(*zip(*tr), lw=1, label="train loss (batch mean over 10 steps, dropout 0.25 on)")
    ax.plot(*zip(*va), "o-", ms=3, lw=1.5, label="validation loss (fine-tune train docs, first 2048 tokens each, ctx 1024)")
    if args.results.exists():
        res = json.loads(args.results.read_text())
        h = math.log(res["heldout_ppl_1024"])
        u = math.log(res["unigram_ppl_1024"])
        ax.axhline(h, color="C2", ls="--", lw=1, label=f"held-out test loss {h:.3f} (ppl {res['heldout_ppl_1024']:.1f})")
        ax.axhline(u, color="C3", ls=":", lw=1, label=f"unigram baseline on held-out {u:.3f} (ppl {res['unigram_ppl_1024']:.0f})")
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.set_ylim(3.0, 7.5)
    ax.set_title("lemo-tiny pretraining (6.25M params, ctx 1024, 1.69M-token corpus x 24 epochs)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Per-layer oracle block-score statistics (held-out books, 2048 tokens, blocks of 32) of lemo-tiny,
the pretrained lemo-books and the elimination-aware lemo-books, from the `pretrain.py report`
files under runs/, and the frozen model's perplexity cost of the oracle's elimination."""
import json
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs"
MODELS = [("lemo-tiny (RoPE ×2)", RUNS / "lemo-tiny-report.json"), ("lemo-books, pretrained", RUNS / "c2048/report.json"),
          ("lemo-books, elimination-aware (shipped)", RUNS / "elim/report.json")]


def main(out: str) -> None:
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, path in MODELS:
        b = json.loads(path.read_text())["2048"]["block32"]
        pl = b["per_layer"]
        ax[0].plot(range(len(pl)), [l["cv"] for l in pl], marker="o", label=name)
        ax[1].plot(range(len(pl)), [l["top40_share"] for l in pl], marker="o", label=name)
    ax[0].set(title="block-score coefficient of variation", xlabel="layer")
    ax[1].axhline(0.4, color="grey", ls=":", lw=1)
    ax[1].set(title="share of block score in the top 40% of blocks", xlabel="layer", ylim=(0.35, 1.0))
    ax[0].legend(fontsize=8)
    labels, dense, oracle = [], [], []
    for name, path in MODELS:
        b = json.loads(path.read_text())["2048"]["block32"]
        labels.append(name.replace(", ", "\n"))
        dense.append(b["window_ppl_dense"])
        oracle.append(b["window_ppl_oracle_keep04"])
    x = range(len(labels))
    ax[2].bar([i - 0.2 for i in x], dense, 0.4, label="dense")
    ax[2].bar([i + 0.2 for i in x], oracle, 0.4, label="oracle, keep 0.4 (artifact's layers)")
    for i in x:
        ax[2].text(i + 0.2, oracle[i], f"+{100 * (oracle[i] / dense[i] - 1):.0f}%", ha="center", va="bottom", fontsize=8)
    ax[2].set(title="frozen model, held-out windows: perplexity", xticks=list(x), xticklabels=labels, yscale="log")
    ax[2].tick_params(axis="x", labelsize=7)
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE.parents[1] / "bench/quality/books-sparsity.png"))

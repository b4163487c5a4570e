#!/usr/bin/env bash
# Quality of the default run's fine-tune under several policies, on lemo-books at 2048: each run
# trains 30 LoRA steps (seed 0, the same windows), then its adapter is evaluated with the dense
# model on the held-out books. Writes OUT/NAME.{train.log,eval.json} and prints one line a run.
#   bench/quality/books.sh OUT NAME:ARGS ...      e.g. "oracle-artifact:--sparsity oracle --policy [...]"
set -uo pipefail
OUT="$1"; shift
mkdir -p "$OUT"
for spec in "$@"; do
  name="${spec%%:*}"; args="${spec#*:}"
  [ -f "$OUT/$name.eval.json" ] && continue
  eval node bin/lemo.js train --steps "${STEPS:-30}" --seed 0 $args --out "$OUT/$name" --threads "${THREADS:-2}" 2>"$OUT/$name.train.log" >/dev/null || { echo "$name: train failed"; continue; }
  node bin/lemo.js eval --data public/data/books-long/heldout.jsonl.gz --ctx 2048 --adapter "$OUT/$name" --threads "${THREADS:-2}" 2>/dev/null | tail -1 >"$OUT/$name.eval.json"
  echo "$name $(cat "$OUT/$name.eval.json")"
done

#!/usr/bin/env bash
# Run several train.py configurations side by side on one GPU, pick the one with
# the lowest final validation loss (validation = first 2048 tokens of each
# fine-tuning *train* document; the held-out file is never looked at), and put
# its model folder under $OUT (model.safetensors split in 15 MiB parts, to be
# joined with `cat`) together with every run's loss curve and summary.
#   usage: OUT=dir sweep_gpu.sh NAME:EPOCHS:DROPOUT:LR[:WEIGHT_DECAY[:BATCH]] [...]
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:?set OUT}"
RUNS="${RUNS:-/tmp/lemo-runs}"
LIMIT="${LIMIT:-480}"
DEVICE="${DEVICE:-cuda}"
EXTRA="${EXTRA:-}"
mkdir -p "$RUNS" "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch, transformers, tokenizers; print(torch.__version__, transformers.__version__, tokenizers.__version__)"
for spec in "$@"; do
  IFS=: read -r name ep drop lr wd bs <<<"$spec"
  d="$RUNS/$name"; mkdir -p "$d"
  PYTHONUNBUFFERED=1 timeout "$LIMIT" python3 "$HERE/train.py" --device "$DEVICE" $EXTRA --epochs "$ep" --dropout "$drop" --lr "$lr" --weight-decay "${wd:-0.1}" --batch "${bs:-32}" \
    --out "$d/model" --log "$d/loss.csv" --summary "$d/summary.json" >"$d/log.txt" 2>&1 &
done
wait
python3 - "$RUNS" "$OUT" <<'PY'
import json, os, shutil, subprocess, sys
runs, out = sys.argv[1], sys.argv[2]
res = []
for name in sorted(os.listdir(runs)):
    p = os.path.join(runs, name, "summary.json")
    if os.path.exists(p):
        s = json.load(open(p)); res.append((s["final_val_loss"], name, s))
    print(name, "->", open(os.path.join(runs, name, "log.txt")).read().strip().splitlines()[-1][:300])
res.sort()
for v, name, s in res:
    print(f"{name}: val {v:.4f} ppl {s['final_val_ppl']:.2f} steps {s['steps']} {s['train_seconds']}s {s['tokens_per_second']} tok/s")
best = res[0][1]
print("best:", best)
m = os.path.join(runs, best, "model")
subprocess.run(["split", "-b", "15M", "-d", os.path.join(m, "model.safetensors"), os.path.join(out, "model.safetensors.part")], check=True)
subprocess.run("sha256sum model.safetensors > model.sha256", shell=True, cwd=m, check=True)
shutil.copy(os.path.join(m, "model.sha256"), out)
open(os.path.join(out, "best.txt"), "w").write(best + "\n")
subprocess.run(["tar", "czf", os.path.join(out, "runs.tar.gz"), "--exclude=model.safetensors", "-C", runs, "."], check=True)
PY
ls -la "$OUT"

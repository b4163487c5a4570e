#!/usr/bin/env bash
# The GPU side of the lemo-books recipe, in phases, one device call each (the machine keeps
# /root/lb between calls while it is held). Run from the repository root on the GPU machine.
#   gpu.sh unpack K        decompress shard K (carried) and tokenize it in the background
#   gpu.sh start NAME:CTX:BATCH[:EXTRA] ...   tokenize the last shard, join, start each run in the background
#   gpu.sh wait SECONDS    show progress, return when every run is done or after SECONDS
#   gpu.sh finish          report + samples for each run, results and weights into $OUT
set -uo pipefail
W=/root/lb; mkdir -p "$W"
HERE=tools/book-model
Z=$(command -v zstd || true)
if [ -z "$Z" ]; then Z=$PWD/.carry/zbin/zstd; export LD_LIBRARY_PATH=$PWD/.carry/zbin; fi
case "$1" in
  unpack)
    "$Z" -d -q --long=27 -f -o "$W/s$2.txt" "$HERE/.cache/shards/pretrain-$2.txt.zst" || exit 1
    setsid nohup python3 "$HERE/pretrain.py" tokenize --shards "$W/s$2.txt" --out "$W/t$2.u16" >"$W/tok$2.log" 2>&1 </dev/null &
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
    python3 -c 'import torch, transformers; print(torch.__version__, transformers.__version__)'
    du -sh . "$W"/* ;;
  start)
    shift
    while pgrep -f "pretrain.py tokenize" >/dev/null; do sleep 2; done
    cat "$W"/tok*.log
    cat "$W"/t*.u16 > "$W/tokens.u16"; ls -la "$W/tokens.u16"
    for spec in "$@"; do
      IFS=: read -r name ctx batch extra <<<"$spec"
      mkdir -p "$W/$name"
      PYTHONUNBUFFERED=1 setsid nohup python3 "$HERE/pretrain.py" train --tokens "$W/tokens.u16" --out "$W/$name" \
        --ctx "$ctx" --batch "$batch" --minutes "${MINUTES:-15}" $extra >"$W/$name/log.txt" 2>&1 </dev/null &
    done
    sleep "${SETTLE:-150}"; tail -n 3 "$W"/*/log.txt ;;
  elim)
    # Continued pretraining of the shipped model with the oracle's elimination in layers 5-8
    # (keep drawn in [0.3, 0.7], a quarter of the steps dense), beside a dense control run of the
    # same length; then reports for both and for lemo-tiny at 2048 (RoPE x2).
    while pgrep -f "pretrain.py tokenize" >/dev/null; do sleep 2; done
    cat "$W"/t*.u16 > "$W/tokens.u16"
    mkdir -p "$W/base" "$W/elim" "$W/control" && cp public/models/lemo-books/*.json public/models/lemo-books/model.safetensors "$W/base/"
    common="--init $W/base --tokens $W/tokens.u16 --ctx 2048 --batch 64 --lr 1e-3 --warmup 50 --eval-every 250 --minutes ${MINUTES:-5}"
    PYTHONUNBUFFERED=1 python3 "$HERE/pretrain.py" train $common --out "$W/elim" --eliminate 5,6,7,8 --block 32 --keep-min 0.3 --keep-max 0.7 --dense-frac 0.25 --eval-keep 0.4 >"$W/elim/log.txt" 2>&1 &
    PYTHONUNBUFFERED=1 python3 "$HERE/pretrain.py" train $common --out "$W/control" >"$W/control/log.txt" 2>&1 &
    wait
    tail -n 2 "$W"/elim/log.txt "$W"/control/log.txt | cut -c1-600
    mkdir -p "$W/tiny" && cp public/models/lemo-tiny/* "$W/tiny/"
    for d in elim control tiny; do
      cp public/models/lemo-books/tokenizer*.json "$W/$d/" 2>/dev/null; [ "$d" = tiny ] && cp public/models/lemo-tiny/tokenizer*.json "$W/tiny/"
      python3 "$HERE/pretrain.py" report --model "$W/$d" --ctx 2048 --blocks 32 --out "$W/$d/report.json" >"$W/$d/report.log" 2>&1 &
    done
    wait
    mkdir -p "$OUT"
    for d in elim control; do
      tar czf "$OUT/$d-meta.tar.gz" -C "$W/$d" --exclude=model.safetensors --exclude='tokenizer*' .
      split -b 15M -d "$W/$d/model.safetensors" "$OUT/$d-model.part"
    done
    cp "$W/tiny/report.json" "$OUT/tiny-report.json"
    tail -c 1500 "$W"/*/report.log; ls -la "$OUT" ;;
  wait)
    end=$((SECONDS + $2))
    while [ $SECONDS -lt $end ] && pgrep -f "pretrain.py train" >/dev/null; do sleep 10; done
    tail -n 2 "$W"/*/log.txt; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader ;;
  finish)
    while pgrep -f "pretrain.py train" >/dev/null; do sleep 5; done
    for d in "$W"/*/; do
      n=$(basename "$d"); [ -f "$d/model.safetensors" ] || continue
      cp public/models/lemo-books/tokenizer*.json "$d/"
      (python3 "$HERE/pretrain.py" report --model "$d" --ctx "${REPORT_CTX:-2048,4096}" --out "$d/report.json" >"$d/report.log" 2>&1;
       python3 "$HERE/pretrain.py" sample --model "$d" --out "$d/samples.json" >"$d/sample.log" 2>&1) &
    done
    wait
    mkdir -p "$OUT"
    for d in "$W"/*/; do
      n=$(basename "$d"); [ -f "$d/model.safetensors" ] || continue
      tar czf "$OUT/$n-meta.tar.gz" -C "$d" --exclude=model.safetensors --exclude='tokenizer*' .
      split -b 15M -d "$d/model.safetensors" "$OUT/$n-model.part"
      tail -n 4 "$d/log.txt" "$d/report.log" | cut -c1-1500
    done
    ls -la "$OUT" ;;
esac

#!/usr/bin/env bash
# Cut the first $CHUNKS x $CHUNK_BYTES of the pretraining corpus (whole books, corpus order) into
# zstd-compressed shards under .cache/shards/, each small enough to travel to the GPU in one call.
set -euo pipefail
cd "$(dirname "$0")"
CHUNKS="${CHUNKS:-2}"; CHUNK_BYTES="${CHUNK_BYTES:-190000000}"
mkdir -p .cache/shards
python3 - "$CHUNKS" "$CHUNK_BYTES" <<'PY'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
sep = "\n<|endoftext|>\n"
books = open(".cache/corpus/pretrain.txt", encoding="utf-8").read().split(sep)
i = 0
for k in range(n):
    out, total = [], 0
    while i < len(books) and total < size:
        out.append(books[i] + sep); total += len(out[-1].encode()); i += 1
    open(f".cache/shards/pretrain-{k}.txt", "w", encoding="utf-8").write("".join(out))
    print(f"shard {k}: {len(out)} books, {total} bytes")
PY
for f in .cache/shards/pretrain-*.txt; do zstd -q -12 --long=27 -T2 -f --rm "$f"; done
sha256sum .cache/shards/*.zst

#!/usr/bin/env bash
# Packs what the lent GPU machine needs beside the repository's own files, for
# bench/gpu/run-on-device.sh. What travels with a device call is the working tree (tracked and
# untracked files, ~45 MB here) plus up to 8 ignored folders named in `carry`, 64 MiB in all, so
# the pack is split in two folders that travel in two calls made back to back (the machine stays
# warm between them, and what the first call left in the ignored folder is still there):
#   .gl/        Debian's Vulkan and GL loaders (dpkg -x on the machine)                 ~0.4 MB
#   .gpu-node/  node.xz.a: the first 16 MB of this machine's node binary, stripped, xz'd
#   .gpu-pack/  node.xz.b (the rest, ~6 MB), bench.mjs (bench/gpu/run.ts bundled by esbuild), graph-check.mjs,
#               onnxruntime-web's JSEP bundle and its wasm (xz), dawn.node from the `webgpu`
#               package (xz)                                                            ~16 MB
#   .gpu-ep/    onnxruntime-web's C++ WebGPU build (the `onnxruntime-web/webgpu` bundle the page's
#               worker imports, and its asyncify wasm, xz), for EP=native: a call of its own
#               (run-on-device.sh ep) after the node call                                ~4 MB
# Usage: bash bench/gpu/pack.sh        (rebuilds bench.mjs every time; the rest when missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
for d in /.gl/ /.gpu-node/ /.gpu-pack/ /.gpu-ep/; do
  grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >>.git/info/exclude
done
mkdir -p .gl .gpu-node .gpu-pack .gpu-ep

if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial
  apt-get $o update >/dev/null
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

if [ ! -s .gpu-node/node.xz.a ] || [ ! -s .gpu-pack/node.xz.b ]; then
  cp "$(command -v node)" /tmp/lemo-node.$$ && strip /tmp/lemo-node.$$
  xz -T0 -9e -c /tmp/lemo-node.$$ >/tmp/lemo-node.$$.xz && rm /tmp/lemo-node.$$
  head -c 16000000 /tmp/lemo-node.$$.xz >.gpu-node/node.xz.a
  tail -c +16000001 /tmp/lemo-node.$$.xz >.gpu-pack/node.xz.b
  rm /tmp/lemo-node.$$.xz
fi

npx esbuild bench/gpu/run.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile=.gpu-pack/bench.mjs --external:onnxruntime-node --external:onnxruntime-web --log-level=warning \
  "--banner:js=import { createRequire as __lemoRequire } from 'node:module'; const require = __lemoRequire(import.meta.url);"
npx esbuild bench/gpu/graph-check.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile=.gpu-pack/graph-check.mjs --external:onnxruntime-node --external:onnxruntime-web --log-level=warning \
  "--banner:js=import { createRequire as __lemoRequire } from 'node:module'; const require = __lemoRequire(import.meta.url);"
ORT=node_modules/onnxruntime-web/dist
cp "$ORT/ort.bundle.min.mjs" .gpu-pack/
[ -s .gpu-pack/ort-wasm-simd-threaded.jsep.wasm.xz ] || xz -T0 -9 -c "$ORT/ort-wasm-simd-threaded.jsep.wasm" >.gpu-pack/ort-wasm-simd-threaded.jsep.wasm.xz
cp "$ORT/ort.webgpu.bundle.min.mjs" .gpu-ep/
[ -s .gpu-ep/ort-wasm-simd-threaded.asyncify.wasm.xz ] || xz -T0 -9 -c "$ORT/ort-wasm-simd-threaded.asyncify.wasm" >.gpu-ep/ort-wasm-simd-threaded.asyncify.wasm.xz
[ -s .gpu-pack/dawn.node.xz ] || xz -T0 -9 -c node_modules/webgpu/dist/linux-x64/dawn.node >.gpu-pack/dawn.node.xz

tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {printf "%d", s}')
size() { du -sb "$@" | awk '{s+=$1} END {printf "%d", s}'; }
limit=$((64 * 1024 * 1024))
status=0
for call in "node:.gl .gpu-node" "ep:.gpu-ep" "webgpu:.gpu-pack"; do
  name=${call%%:*}; dirs=${call#*:}; carried=$(size $dirs)
  awk -v n="$name" -v d="$dirs" -v t="$tree" -v c="$carried" -v l="$limit" 'BEGIN {
    printf "%-7s call: working tree %.1f MB + %s %.1f MB = %.1f MB of %.1f MB%s\n", n, t/1e6, d, c/1e6, (t+c)/1e6, l/1e6, (t+c >= l ? "  TOO LARGE" : "") }'
  [ $((tree + carried)) -lt "$limit" ] || status=1
done
exit $status

#!/usr/bin/env bash
# Runs on the lent GPU machine (one H200), in the repository's root, after bench/gpu/pack.sh.
# Two calls back to back (see pack.sh for why), results as JSON lines under $OUT:
#   run carry=[".gl", ".gpu-node"]  command: bash bench/gpu/run-on-device.sh node
#       unpacks the Vulkan loader, keeps the first part of node, runs PyTorch + PEFT (torch.jsonl)
#   run carry=[".gpu-pack"]          command: bash bench/gpu/run-on-device.sh webgpu
#       joins node, runs PyTorch + PEFT again (same run as the WebGPU figures), then `lemo bench`'s
#       benchmark on WebGPU through Dawn with the matmul ceiling and a per-kernel profile (webgpu.jsonl)
# Settings (environment): CTX (2048,4096,8192,16384), MODES (dense,oracle), STEPS (4),
# PROFILE_CTX (4096), PREDICTORS (file, for MODES with lemo), TORCH (1: run the PyTorch reference),
# WEBGPU_TIMEOUT (seconds for the WebGPU part, 420), TRANSIENT_MIB (segment budget, MiB; the
# engine's WebGPU default, 128, when unset), BASELINE_MIB (then also BASELINE_MODES, dense, at BASELINE_CTX, 4096, with that budget),
# TORCH_VARIANTS (precision:attention list for torch_ref.py), POLICY (per-layer kept share, JSON),
# MLP_KEEP (MLP channel share in sparse layers), OFFLOAD (host: each row again with saved activations offloaded), ORT_LOG (onnxruntime's session log severity; 0
# lists the nodes placed off the GPU), SHAPE (a real model's shape with random weights made here by
# make_model.py, e.g. smollm2-135m, tokens from lemo-tiny's tokenizer; the default model otherwise),
# KERNELS (on, off or on,off: the engine's WGSL kernels, or onnxruntime's graphs only; each under
# OUT/kernels-on|off), EP (jsep, native or jsep,native: onnxruntime-web's WebGPU build: its JavaScript
# kernels, the `onnxruntime-web` import, or its C++ WebGPU provider, the `onnxruntime-web/webgpu`
# import the page's worker uses; native needs the .gpu-ep call of pack.sh first; each under
# OUT/<ep>-kernels-on|off when EP names both), VARIANTS (instead of the EP and KERNELS runs: one run a
# line "name|ep|dawn flags|provider options|1 for a CPU profile|more bench arguments", e.g. Dawn's
# skip_validation, --pool-mib 0).
set -uo pipefail
stage=${1:?stage: node, ep, webgpu or graphs}
OUT=${OUT:-bench/gpu/out}
mkdir -p "$OUT"
CTX=${CTX:-2048,4096,8192,16384}
KEEP=/var/tmp/lemo-gpu
mkdir -p "$KEEP"

model_args=()
if [ -n "${SHAPE:-}" ]; then
  python3 bench/gpu/make_model.py --shape "$SHAPE" --out "$KEEP/$SHAPE" || exit 5
  model_args=(--model "$KEEP/$SHAPE" --tokenizer public/models/lemo-tiny)
fi

torch_ref() {
  [ "${TORCH:-1}" = 1 ] || return 0
  PYTHONUNBUFFERED=1 python3 bench/gpu/torch_ref.py "${model_args[@]}" --ctx "$CTX" --variants "${TORCH_VARIANTS:-fp32:sdpa,fp32:eager,bf16-autocast:sdpa}" --out "$OUT/torch.jsonl" 2>&1 | grep -v 'Loading weights' | tee "$OUT/torch-$stage.log"
}

case "$stage" in
graphs)
  # After a webgpu call on the same machine (node, dawn.node and the wasm unpacked): the engine's
  # own graph kernels against onnxruntime's, graph by graph, at TOKENS (4096) and KEPT (1024), REPS timed runs.
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES=$icd
  "$KEEP/node" .gpu-pack/graph-check.mjs --dawn "$KEEP/dawn.node" --ort .gpu-pack/ort.bundle.min.mjs --wasm "$KEEP/ort-wasm-simd-threaded.jsep.wasm" \
    --model "$KEEP/${SHAPE:-smollm2-135m}" --tokens "${TOKENS:-4096}" --kept "${KEPT:-1024}" --reps "${REPS:-5}" --out "$OUT/graphs.jsonl" 2>&1 | grep -v VerifyEachNode
  ;;
ep)
  # onnxruntime-web's C++ WebGPU build (EP=native), carried in .gpu-ep by its own call.
  cp .gpu-ep/ort.webgpu.bundle.min.mjs "$KEEP/"
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' .gpu-ep/ort-wasm-simd-threaded.asyncify.wasm.xz "$KEEP/ort-wasm-simd-threaded.asyncify.wasm"
  ls -la "$KEEP"
  ;;
node)
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  cp .gpu-node/node.xz.a "$KEEP/"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
  ls /usr/local/nvidia/share/vulkan/icd.d/ 2>&1 | tee -a "$OUT/gpu.txt"
  torch_ref
  ;;
webgpu)
  a=.gpu-node/node.xz.a
  [ -s "$a" ] || a=$KEEP/node.xz.a
  if [ ! -s "$a" ] || ! ldconfig -p | grep -q libvulkan.so.1; then
    echo "This machine has not had the node stage (a fresh machine): run 'bash bench/gpu/run-on-device.sh node' with carry .gl and .gpu-node first." >&2
    exit 3
  fi
  cat "$a" .gpu-pack/node.xz.b | python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer)' >"$KEEP/node"
  chmod +x "$KEEP/node"
  for f in dawn.node ort-wasm-simd-threaded.jsep.wasm; do
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' ".gpu-pack/$f.xz" "$KEEP/$f"
  done
  "$KEEP/node" --version || exit 4
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES=$icd
  torch_ref
  args=(--dawn "$KEEP/dawn.node" "${model_args[@]}" --ctx "$CTX" --modes "${MODES:-dense,oracle}" --steps "${STEPS:-4}")
  [ -n "${PROFILE_CTX-4096}" ] && args+=(--profile-ctx "${PROFILE_CTX-4096}")
  [ -n "${PREDICTORS:-}" ] && args+=(--predictors "$PREDICTORS")
  [ -n "${TRANSIENT_MIB:-}" ] && args+=(--transient-mib "$TRANSIENT_MIB")
  [ -n "${POLICY:-}" ] && args+=(--policy "$POLICY")
  [ -n "${MLP_KEEP:-}" ] && args+=(--mlp-keep "$MLP_KEEP")
  [ -n "${OFFLOAD:-}" ] && args+=(--offload "$OFFLOAD")
  [ -n "${ORT_LOG:-}" ] && args+=(--ort-log "$ORT_LOG")
  [ -n "${BASELINE_MIB:-}" ] && args+=(--baseline-mib "$BASELINE_MIB" --baseline-ctx "${BASELINE_CTX:-4096}" --baseline-modes "${BASELINE_MODES:-dense}")
  if [ -n "${VARIANTS:-}" ]; then
    # One run per line "name|ep|dawn flags|provider options (JSON)|cpu profile (1)|bench arguments", each with the
    # ceiling's launch costs, under OUT/variant-<name>; a profile is summarised by cpuprof.mjs.
    while IFS='|' read -r name ep dflags epopts prof extra; do
      [ -n "$name" ] || continue
      case "$ep" in
      native) v_args=(--ort "$KEEP/ort.webgpu.bundle.min.mjs" --wasm "$KEEP/ort-wasm-simd-threaded.asyncify.wasm") ;;
      *) v_args=(--ort .gpu-pack/ort.bundle.min.mjs --wasm "$KEEP/ort-wasm-simd-threaded.jsep.wasm") ;;
      esac
      [ -n "$dflags" ] && v_args+=(--dawn-flags "$dflags")
      [ -n "$epopts" ] && v_args+=(--ep-options "$epopts")
      # shellcheck disable=SC2206
      [ -n "${extra:-}" ] && v_args+=($extra)
      [ "$prof" = 1 ] && v_args+=(--cpu-prof-steps "$KEEP/steps-$name.cpuprofile")
      rm -f "$KEEP/steps-$name.cpuprofile"
      timeout "${WEBGPU_TIMEOUT:-420}" "$KEEP/node" .gpu-pack/bench.mjs "${args[@]}" "${v_args[@]}" --ceiling --out "$OUT/variant-$name" 2>&1 | grep -v 'VerifyEachNodeIsAssignedToAnEp' | tee "$OUT/webgpu-variant-$name.log"
      echo "variant $name exit: ${PIPESTATUS[0]}"
      if [ "$prof" = 1 ]; then
        "$KEEP/node" bench/gpu/cpuprof.mjs "$KEEP/steps-$name.cpuprofile" >"$OUT/variant-$name/cpuprof-steps.json"
      fi
    done <<<"$VARIANTS"
    exit 0
  fi
  eps=$(echo "${EP:-jsep}" | tr , ' ')
  for ep in $eps; do
    case "$ep" in
    jsep) ep_args=(--ort .gpu-pack/ort.bundle.min.mjs --wasm "$KEEP/ort-wasm-simd-threaded.jsep.wasm") ;;
    native)
      [ -s "$KEEP/ort-wasm-simd-threaded.asyncify.wasm" ] || { echo "EP=native: run the .gpu-ep call first (see pack.sh)" >&2; continue; }
      ep_args=(--ort "$KEEP/ort.webgpu.bundle.min.mjs" --wasm "$KEEP/ort-wasm-simd-threaded.asyncify.wasm") ;;
    *) echo "EP must be jsep or native" >&2; continue ;;
    esac
    prefix=""
    [ "$eps" != "$ep" ] && prefix="$ep-"
    first=1
    for k in $(echo "${KERNELS:-on}" | tr , ' '); do
      run_args=("${args[@]}" "${ep_args[@]}" --out "$OUT/${prefix}kernels-$k")
      [ "$k" = off ] && run_args+=(--no-kernels)
      # The matmul ceiling and the attention kernels once a build, in its first run.
      [ "$first" = 1 ] && run_args+=(--ceiling)
      [ "$k" = on ] && [ "${ATTENTION_BENCH:-1}" = 1 ] && [ "$first" = 1 ] && run_args+=(--attention-bench)
      first=0
      timeout "${WEBGPU_TIMEOUT:-420}" "$KEEP/node" .gpu-pack/bench.mjs "${run_args[@]}" 2>&1 | grep -v 'VerifyEachNodeIsAssignedToAnEp' | tee "$OUT/webgpu-${prefix}kernels-$k.log"
      echo "webgpu ($ep, kernels $k) exit: ${PIPESTATUS[0]}"
    done
  done
  ;;
*)
  echo "stage must be node, ep or webgpu" >&2
  exit 2
  ;;
esac

// window.peers for bench/peers/browser.ts: a TF.js LoRA step on the default model (wasm or
// webgpu backend) and matrix-multiply rates of TF.js and onnxruntime-web's WASM provider.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-webgpu';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { TfLlama, configOf } from './llama';
import { Runtime, type Ort } from '../../../src/engine/runtime/runtime';
import { ortMatmul } from '../matmul';

// The wasm binaries from this origin (the dev server serves node_modules), not a CDN.
setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
setThreadsCount(2);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Peak of TF.js's live tensor bytes (tf.memory().numBytes), caught on every change of the engine's
// counter (tf.profile would also time each kernel, which synchronizes the GPU).
const state = (tf.engine() as unknown as { state: Record<string, number> }).state;
let peakBytes = 0;
let numBytes = state.numBytes;
Object.defineProperty(state, 'numBytes', {
  get: () => numBytes,
  set: (v: number) => { numBytes = v; if (v > peakBytes) peakBytes = v; },
});

async function useBackend(name: 'wasm' | 'webgpu') {
  if (!(await tf.setBackend(name))) throw new Error(`TF.js backend ${name} did not initialize`);
  await tf.ready();
}

function wasmHeapBytes(): number | null {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return b.wasm?.HEAPU8?.buffer.byteLength ?? null;
}

async function tfjsStep(backend: 'wasm' | 'webgpu', ids: number[], ropeScale: number, referenceLoss: number, steps: number, budgetMs: number) {
  await useBackend(backend);
  const base = '/models/lemo-tiny';
  const cfg = configOf(await (await fetch(`${base}/config.json`)).json());
  const weights = new Uint8Array(await (await fetch(`${base}/model.safetensors`)).arrayBuffer());
  const model = new TfLlama(cfg, weights);
  const vars = model.lora.flatMap((p) => [p.a, p.b]);
  const opt = tf.train.adam(1e-3);
  const out: Record<string, unknown> = { peer: 'tfjs', backend, ctx: ids.length, threads: backend === 'wasm' ? tf.env().getNumber('WASM_HAS_MULTITHREAD_SUPPORT') && 2 : null, isolated: crossOriginIsolated };
  try {
    // The loss before any update, checked against the reference before anything is timed.
    const l0 = tf.tidy(() => model.loss(ids, ropeScale));
    const loss0 = (await l0.data())[0];
    l0.dispose();
    out.loss = loss0;
    out.lossRelErr = Math.abs(loss0 - referenceLoss) / Math.abs(referenceLoss);
    if (!((out.lossRelErr as number) <= 1e-4)) throw new Error(`TF.js loss ${loss0} differs from the reference ${referenceLoss}`);
    const stepMs: number[] = [];
    let peak = 0;
    const started = performance.now();
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      peakBytes = tf.memory().numBytes;
      const { value, grads } = tf.variableGrads(() => model.loss(ids, ropeScale), vars);
      opt.applyGradients(grads as tf.NamedTensorMap as Record<string, tf.Variable>);
      await value.data();
      await vars[vars.length - 1].data();
      value.dispose();
      tf.dispose(Object.values(grads));
      stepMs.push(performance.now() - t0);
      peak = Math.max(peak, peakBytes);
      if (performance.now() - started > budgetMs && s >= 1) break;
    }
    Object.assign(out, {
      stepMs, medianStepMs: median(stepMs.length > 1 ? stepMs.slice(1) : stepMs), peakBytes: peak,
      peakMeasure: 'peak of tf.memory().numBytes after each kernel: live TF.js tensors, weights included',
      wasmHeapBytes: backend === 'wasm' ? wasmHeapBytes() : null,
    });
  } catch (e) {
    out.error = String((e as Error)?.message ?? e);
    out.wasmHeapBytes = backend === 'wasm' ? wasmHeapBytes() : null;
  } finally {
    opt.dispose();
    tf.disposeVariables();
    model.dispose();
  }
  return out;
}

async function tfjsMatmul(backend: 'wasm' | 'webgpu', n: number, reps: number) {
  await useBackend(backend);
  const a = tf.randomNormal([n, n]), b = tf.randomNormal([n, n]);
  const once = async () => { const c = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D); await c.data(); c.dispose(); };
  await once();
  await once();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await once();
    ms.push(performance.now() - t0);
  }
  a.dispose();
  b.dispose();
  const m = median(ms);
  return { provider: `tfjs ${backend} (Chromium)`, n, ms: m, gflops: (2 * n ** 3) / (m / 1000) / 1e9, note: 'includes reading the result back' };
}

async function ortWebMatmul(n: number, reps: number) {
  const ort = (await import('onnxruntime-web/wasm')) as unknown as Ort & { env: { wasm: { numThreads: number }; logLevel: string } };
  ort.env.wasm.numThreads = 2;
  ort.env.logLevel = 'error';
  const rt = new Runtime(ort, { provider: 'wasm', threads: 2 });
  return { provider: 'onnxruntime-web WASM (Chromium page)', ...(await ortMatmul(rt, n, reps)) };
}

(window as unknown as { peers: unknown }).peers = { tfjsStep, tfjsMatmul, ortWebMatmul };
document.body.dataset.ready = 'true';

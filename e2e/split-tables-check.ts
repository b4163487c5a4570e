// Lookup tables over one GPU buffer's limit, on onnxruntime-web's WebGPU device: lemo-tiny's tied
// embedding (the model cut to its first layer) stored whole against the same table stored in
// chunks of rows under a limit set small (RuntimeOptions.maxBufferBytes), one pass each, compared
// bit for bit, with the largest GPU buffer created while the chunked pass ran. Runs in the page.
import * as ortWebgpu from 'onnxruntime-web/webgpu';
import { Runtime, type Ort } from '../src/engine/runtime/runtime';
import { gpuLargestBuffer, installGpuBufferTracker, resetGpuLargestBuffer } from '../src/engine/runtime/device-memory';
import { loadModel } from '../src/engine/model/model';
import { readSafetensors, writeSafetensors } from '../src/engine/model/safetensors';
import { settingsLora } from '../src/engine/model/lora';
import { DeviceModel } from '../src/engine/train/device-model';
import { Trainer } from '../src/engine/train/trainer';
import { DEFAULT_SETTINGS } from '../src/engine/settings';
import { firstLayers } from './model-cut';

const ort = ortWebgpu as unknown as Ort;
installGpuBufferTracker();
ort.env.logLevel = 'error';

/** The model's limits as the runtime reads them from onnxruntime's device, and the adapter's. */
export async function bufferLimits(maxBufferBytes?: number) {
  const r = new Runtime(ort, { provider: 'webgpu', maxBufferBytes });
  const read = await r.readBufferLimit();
  const adapter = (await (navigator as unknown as { gpu: GPU }).gpu.requestAdapter())!.limits;
  return { read, adapter: Math.min(adapter.maxStorageBufferBindingSize, adapter.maxBufferSize) };
}

/**
 * One runtime per buffer limit for the page: a runtime's sessions, made once, serve every pass
 * after (on SwiftShader a pass of lemo-tiny's first layer took 11–15 s in a fresh runtime, 4–5 s
 * in one that had run it). Each pass frees all it made, so the next starts from nothing held.
 */
const runtimes = new Map<number | undefined, Runtime>();
function runtime(maxBufferBytes?: number): Runtime {
  let r = runtimes.get(maxBufferBytes);
  if (!r) runtimes.set(maxBufferBytes, (r = new Runtime(ort, { provider: 'webgpu', maxBufferBytes })));
  return r;
}

/**
 * lemo-tiny's weights (bf16 as shipped, or widened to float32 up front) through one pass of T
 * tokens: stored whole (the head cut in the chunk rows the limit gives) and in chunks under
 * `limit` bytes. Loss and LoRA gradients bit for bit, the chunks, the weights held, and the
 * largest GPU buffer created during each pass (upload included).
 */
export async function chunkedAgainstWhole(kind: 'bf16' | 'f32', T: number, limit: number) {
  // Its first layer only: the tables are the subject (e2e/model-cut.ts).
  const { config, weights: shipped } = await firstLayers('/models/lemo-tiny', 1);
  let weights = shipped;
  if (kind === 'f32') weights = writeSafetensors(new Map([...readSafetensors(weights)].map(([n, t]) => [n, { shape: t.shape, data: t.data }])));
  const model = loadModel({ config, weights });
  const ids = [Array.from({ length: T }, (_, i) => (i * 7919) % model.config.vocabSize)];
  const lora = settingsLora(DEFAULT_SETTINGS, model.config);
  const pass = async (r: Runtime, headChunkRows?: number) => {
    resetGpuLargestBuffer();
    const runs = r.kernelRuns;
    const dm = await DeviceModel.upload(r, model);
    const stored = r.memory.live.weights;
    const trainer = await Trainer.create(dm, model, lora, { seed: 3, headChunkRows });
    const { loss, grads } = await trainer.lossAndGrads(ids);
    const bits: Record<string, number[]> = {};
    for (const [k, g] of grads) bits[k] = Array.from(new Uint32Array(Float32Array.from((await r.read(g)) as Float32Array).buffer));
    const out = { loss, bits, stored, largest: gpuLargestBuffer(), tableChunks: dm.headTableChunks, headChunks: trainer.headChunks(), kernelRuns: r.kernelRunsSince(runs) };
    grads.forEach((g) => r.dispose(g));
    trainer.dispose();
    dm.dispose();
    return { ...out, left: r.memory.total() };
  };
  const chunked = await pass(runtime(limit));
  const whole = await pass(runtime(), chunked.headChunks[0][1]);
  const names = Object.keys(whole.bits);
  const differing = names.filter((k) => chunked.bits[k]?.some((b, i) => b !== whole.bits[k][i]) ?? true);
  const strip = ({ bits: _, ...rest }: typeof whole) => rest;
  return { names: names.length, differing, chunked: strip(chunked), whole: strip(whole), tableBytes: (kind === 'f32' ? 4 : 2) * model.config.vocabSize * model.config.hidden };
}

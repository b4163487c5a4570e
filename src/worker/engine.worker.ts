// The engine's home in the browser: one EngineSession, driven by typed requests.
// onnxruntime is loaded with a dynamic import so its WASM threads (which start from its own
// module URL) never re-run this file.
import {
  BENCH_DEFAULTS, DEFAULT_SETTINGS, EngineSession, forecastRefusal, gpuBufferBytes, installGpuBufferTracker, installWasmMemoryTracker, parseDataset, Runtime, RunStopped, UserError, wasmHeapBytes,
  weightFileOf, zipFolder, type MemoryBudget, type Ort, type Provider, type RunForecast, type TrainSettings,
} from '../engine';
import { parseRequest, type RequestMap, type RequestType, type WorkerMessage, type ProviderChoice } from './protocol';
import { beginRun, clearRun, interruptedRun, loadRun, saveCheckpoint } from './checkpoint-store';
import { fileWeights } from './file-weights';
import { openSpill, removeStaleSpills, spillRefusal } from './spill-store';

installGpuBufferTracker();
installWasmMemoryTracker();
// Offload folders of runs whose tab crashed or closed mid-run.
void removeStaleSpills().catch(() => {});

let session: EngineSession | null = null;
/** Set by 'stop-generate': the generation running ends after its current token. */
let stopGenerating = false;
const post = (m: WorkerMessage) => (self as unknown as Worker).postMessage(m);

/** The provider a choice resolves to here, and the GPU adapter's largest storage binding (null: none asked for or found). */
async function chooseProvider(choice: ProviderChoice): Promise<{ provider: Provider; reason: string; gpuLimit: number | null }> {
  if (choice === 'wasm') return { provider: 'wasm', reason: 'WASM was chosen in the settings.', gpuLimit: null };
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<{ info?: { isFallbackAdapter?: boolean; vendor?: string; architecture?: string }; limits?: { maxStorageBufferBindingSize?: number } } | null> } }).gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  const gpuLimit = adapter?.limits?.maxStorageBufferBindingSize ?? null;
  if (!adapter) {
    if (choice === 'webgpu') throw new UserError('WebGPU was asked for, but this browser offers no WebGPU adapter.');
    return { provider: 'wasm', reason: 'This browser offers no WebGPU adapter, so the CPU (WASM) runs the engine.', gpuLimit };
  }
  const name = [adapter.info?.vendor, adapter.info?.architecture].filter(Boolean).join(' ') || 'a GPU';
  if (choice === 'auto' && adapter.info?.isFallbackAdapter) {
    return { provider: 'wasm', reason: `WebGPU here is a software fallback (${name}) on the CPU, slower than WASM, so WASM runs the engine.`, gpuLimit };
  }
  return { provider: 'webgpu', reason: choice === 'webgpu' ? `WebGPU was chosen in the settings (${name}).` : `WebGPU adapter found (${name}).`, gpuLimit };
}

async function loadOrt(provider: Provider): Promise<{ ort: Ort; threads: number }> {
  const ort = (provider === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm')) as unknown as Ort & {
    env: { wasm: { numThreads: number }; logLevel: string };
  };
  const threads = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  return { ort, threads };
}

function need(): EngineSession {
  if (!session) throw new Error('The engine was not initialised.');
  return session;
}

const handlers: { [K in RequestType]: (args: RequestMap[K]['args']) => Promise<RequestMap[K]['result']> } = {
  async init({ provider: choice }) {
    const { provider, reason, gpuLimit } = await chooseProvider(choice);
    gpuTensorLimit = gpuLimit;
    const { ort, threads } = await loadOrt(provider);
    session = new EngineSession(new Runtime(ort, { provider, probe: provider === 'webgpu' ? gpuBufferBytes : wasmHeapBytes }), (event) => post({ kind: 'event', event }));
    // The device's buffer limits, read now: a forecast made before the model is on the GPU stores its
    // tables as the upload will, and no transient tensor outgrows one buffer (Segments keeps within them).
    if (provider === 'webgpu') await session.rt.readBufferLimit();
    post({ kind: 'event', event: { type: 'provider', provider, reason } });
    if (provider === 'webgpu') watchDevice(ort);
    return { provider, reason, threads };
  },
  async 'check-provider'({ provider: choice }) {
    const { provider, reason } = await chooseProvider(choice);
    return { provider, reason };
  },
  async 'load-model'(a) {
    const one = (w: File | { name: string; bytes: ArrayBuffer }) => (w instanceof File ? fileWeights(w) : weightFileOf(new Uint8Array(w.bytes), w.name));
    const weights = a.weights instanceof ArrayBuffer ? new Uint8Array(a.weights) : a.weights instanceof File ? [fileWeights(a.weights)] : a.weights.map(one);
    const files = { config: a.config, weights, index: a.index, tokenizer: a.tokenizer, tokenizerConfig: a.tokenizerConfig, policy: a.policy };
    return need().loadModel(files, { memoryBudget: memoryBudget(need().rt.provider, a.memoryBudget) });
  },
  async export(a) {
    const files = await need().exportFolder(a.kind, a.baseModel);
    const folder = `${a.baseModel}-${a.kind === 'adapter' ? 'lora' : 'merged'}`;
    const zip = zipFolder(folder, files);
    const buffer = (zip.byteOffset === 0 && zip.byteLength === zip.buffer.byteLength ? zip : zip.slice()).buffer as ArrayBuffer;
    return { name: `${folder}.zip`, zip: buffer, files: files.map((f) => ({ name: f.name, bytes: f.bytes.byteLength })) };
  },
  async grad(a) {
    const t0 = performance.now();
    const adapter = a.adapter ? { config: a.adapter.config, weights: new Uint8Array(a.adapter.weights) } : undefined;
    const session = need();
    const T = a.inputIds[0]?.length ?? 0;
    const settings = { ...DEFAULT_SETTINGS, sparsity: 'dense' as const, ctx: T, attention: a.group ? ('s2' as const) : ('full' as const), group: a.group ?? null };
    const sparsity = await session.sparsityFor(settings, a.keep === undefined ? undefined : { json: a.keep, T });
    const r = await session.grad(a.inputIds, adapter, a.lora ? { ...a.lora } : undefined, sparsity, { headChunkRows: a.headChunkRows });
    return { ...r, ms: performance.now() - t0 };
  },
  async train(a) {
    const saved = a.resume ? await loadRun() : null;
    if (a.resume && !saved) throw new UserError('There is no interrupted run to resume.');
    const files = saved?.files ?? a.files;
    const settings = saved?.checkpoint.run.settings ?? a.settings!;
    const docs = files.flatMap((f) => parseDataset(f.name, f.text));
    const h = a.heldout;
    const heldout = h && h.every > 0 ? { docs: h.files.flatMap((f) => parseDataset(f.name, f.text)), every: h.every, chunks: h.chunks } : undefined;
    // Disk offload: the run's folder in the browser's storage, removed when the run ends, stops or fails.
    const spill = settings.offload === 'disk' ? await openSpill(storedBytes(need().forecast(settings).forecast, settings)) : null;
    try {
      const stored = await checkpointsOn(() => (saved ? Promise.resolve() : beginRun(files)));
      const r = await need().train(docs, settings, heldout, {
        resume: saved?.checkpoint,
        onCheckpoint: stored ? (bytes) => checkpointsOn(() => saveCheckpoint(bytes)).then(() => {}) : undefined,
        spill: spill?.store,
      });
      // The run ended (finished or stopped): nothing is left to resume.
      await clearRun().catch(() => {});
      return r;
    } finally {
      await spill?.close();
    }
  },
  async forecast(a) {
    const { forecast } = need().forecast(a.settings);
    const disk = a.settings.offload === 'disk' ? await spillRefusal(storedBytes(forecast, a.settings)) : null;
    return { ...forecast, refusal: forecastRefusal(forecast, a.settings.sparsity) ?? disk };
  },
  async 'interrupted-run'() {
    return interruptedRun();
  },
  async 'discard-run'() {
    await clearRun();
    return null;
  },
  async 'count-tokens'(a) {
    const files = a.files.map((f) => {
      const docs = parseDataset(f.name, f.text);
      return { name: f.name, documents: docs.length, tokens: need().tokenize(docs).reduce((n, d) => n + d.length, 0) };
    });
    return { documents: files.reduce((n, f) => n + f.documents, 0), tokens: files.reduce((n, f) => n + f.tokens, 0), files };
  },
  async 'load-predictors'(a) {
    return need().loadPredictors(new Uint8Array(a.bytes));
  },
  async bench(a) {
    const s = need();
    const docs = a.files.flatMap((f) => parseDataset(f.name, f.text));
    // lemo needs the predictors loaded first ('load-predictors').
    const modes = [];
    for (const m of a.modes) {
      const settings = { ...DEFAULT_SETTINGS, sparsity: m, block: a.block, policy: a.policy ?? null, mlpKeep: a.mlpKeep ?? null };
      modes.push({ name: m, sparsity: await s.sparsityFor(settings) });
    }
    const D = DEFAULT_SETTINGS;
    return s.bench(docs, { ctxs: a.ctxs, modes, steps: a.steps, seed: BENCH_DEFAULTS.seed, lr: D.lr, lora: { loraR: D.loraR, loraAlpha: D.loraAlpha, targetModules: D.targetModules } }, () => {});
  },
  async generate(a) {
    stopGenerating = false;
    const { prompt, side, ...plan } = a;
    let tokens = 0;
    const text = await need().generate(prompt, plan, (sofar) => {
      tokens++;
      post({ kind: 'event', event: { type: 'generated', side, text: sofar } });
      return !stopGenerating;
    }, side === 'adapter' ? 'trained' : undefined);
    return { text, tokens };
  },
  async 'stop-generate'() {
    stopGenerating = true;
    return null;
  },
  async control(a) {
    need().setControl(a.action);
    return null;
  },
};

/** The most bytes of saved activations a run of these settings keeps in disk offload's store at once. */
function storedBytes(f: RunForecast, s: TrainSettings): number {
  return (s.sparsity === 'dense' ? f.dense : f.sparse).stored;
}

/** The adapter's largest storage buffer binding, in bytes (null: no WebGPU adapter). */
let gpuTensorLimit: number | null = null;

/** WebAssembly's 32-bit memory: the most the WASM provider can hold. */
const WASM_MEMORY = 4 * 2 ** 30;

/**
 * What a model may take here: a budget the page sets, else the device's memory as the browser
 * reports it (navigator.deviceMemory, in GiB, rounded down); under WASM each session run also
 * within its 4 GiB memory; under WebGPU the engine's copy of the weights lives on the GPU.
 */
function memoryBudget(provider: string, override?: number): MemoryBudget | undefined {
  const gib = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
  const reported = gib ? { bytes: gib * 2 ** 30, source: `this device's memory as the browser reports it, ${gib} GiB` } : undefined;
  const device = override !== undefined ? { bytes: override, source: 'the budget set for this page' } : reported;
  if (provider !== 'wasm') {
    const maxTensor = gpuTensorLimit ? { bytes: gpuTensorLimit, source: "this GPU's maxStorageBufferBindingSize" } : undefined;
    return device ? { ...device, deviceSeparate: true, maxTensor } : maxTensor && { bytes: Infinity, source: '', deviceSeparate: true, maxTensor };
  }
  // The WASM engine's runs work in WebAssembly's 4 GiB; the weights and saved activations wait
  // between runs in the worker's JavaScript memory, bound by the device's.
  const heap = { bytes: WASM_MEMORY, source: "WebAssembly's 4 GiB memory, which each run of the WASM engine works in" };
  return { ...(device ?? { bytes: Infinity, source: '' }), heap };
}

let checkpointsFailed = false;

/** Runs a checkpoint write; a failure (no OPFS, storage full) is reported once and the run goes on without them. */
async function checkpointsOn(write: () => Promise<void>): Promise<boolean> {
  if (checkpointsFailed) return false;
  try {
    await write();
    return true;
  } catch (e) {
    checkpointsFailed = true;
    post({ kind: 'event', event: { type: 'log', message: `Checkpoints are off for this run: the browser's storage refused them (${(e as Error).message}).` } });
    return false;
  }
}

/** A lost GPU device ends the worker with an error, so the page restarts the engine and offers to resume. */
function watchDevice(ort: Ort): void {
  type Device = { lost: Promise<{ message: string; reason: string }> };
  // A promise until onnxruntime has made its device, the device itself after.
  const env = ort.env as unknown as { webgpu?: { device?: Promise<Device> | Device } };
  void Promise.resolve(env.webgpu?.device).then((device) => device?.lost.then((info) => {
    setTimeout(() => {
      throw new Error(`The GPU device was lost (${info.message || info.reason}).`);
    });
  }));
}

self.onmessage = async (e: MessageEvent<unknown>) => {
  const id = (e.data as { id?: unknown })?.id;
  try {
    const { type, args } = parseRequest(e.data);
    const handler = handlers[type] as (x: unknown) => Promise<unknown>;
    post({ kind: 'reply', id: id as number, ok: true, value: await handler(args) });
  } catch (err) {
    const error = err as Error;
    const stopped = error instanceof RunStopped ? { stopped: error.lastGoodStep } : {};
    post({ kind: 'reply', id: id as number, ok: false, error: { message: error.message, stack: error.stack, user: error instanceof UserError || error.name === 'UserError', ...stopped } });
  }
};

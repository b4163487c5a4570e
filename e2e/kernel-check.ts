// The engine's WGSL attention and AdamW kernels against the graph path they replace (the
// segment graphs and their differentiated backward, the AdamW graph), the attention's
// backward against central finite differences of its own forward, and the widening of 2-byte
// weights against the host's. Runs in the page, on
// onnxruntime-web's WebGPU device.
import * as ortWebgpu from 'onnxruntime-web/webgpu';
import { adamwGraph } from '../src/engine/train/adamw';
import { gradName } from '../src/engine/graph/autodiff';
import type { ModelConfig } from '../src/engine/model/config';
import { Runtime, type Ort, type Tensor } from '../src/engine/runtime/runtime';
import { gpuBufferBytes, installGpuBufferTracker } from '../src/engine/runtime/device-memory';
import { attentionShape, KERNEL_ROWS } from '../src/engine/runtime/kernels/kernels';
import { segmentGraphs } from '../src/engine/train/layer-graphs';
import { blockTiles, buildScoreGraph } from '../src/engine/sparsity/oracle';
import { shiftedGroups, tileStarts } from '../src/engine/train/segments';
import { mulberry32 } from '../src/engine/train/random';
import { loadModel, type Model } from '../src/engine/model/model';
import { readSafetensors, widenHalf, writeSafetensors } from '../src/engine/model/safetensors';
import { settingsLora } from '../src/engine/model/lora';
import { Trainer } from '../src/engine/train/trainer';
import { DeviceModel } from '../src/engine/train/device-model';
import { DEFAULT_SETTINGS } from '../src/engine/settings';
import { DENSE, type TokenSelector } from '../src/engine/train/selection';
import { selectorFor, type Selector } from '../src/engine/sparsity/selectors';
import { DevicePredictors, normWeights, PredictorSet, uploadLayer } from '../src/engine/sparsity/predictor';
import { artifactPolicy } from '../src/engine/sparsity/policy';
import { firstLayers } from './model-cut';

export interface KernelCase {
  H: number;
  KV: number;
  D: number;
  /** Rows in ascending original positions (gaps: a token-eliminating layer's kept rows). */
  positions: number[];
  /** Shifted sparse attention's group, or 0. */
  group: number;
}

const ort = ortWebgpu as unknown as Ort;
let runtime: Runtime | null = null;

async function rt(): Promise<Runtime> {
  // As the engine's worker does, before onnxruntime asks for its device.
  installGpuBufferTracker();
  ort.env.logLevel = 'error';
  runtime ??= new Runtime(ort, { provider: 'webgpu' });
  return runtime;
}

/** n values drawn uniformly from [-1, 1). */
const uniform = (rand: () => number, n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-12);
};

/** Largest difference over the largest reference value, per output, kernel against graphs. */
export async function attentionAgainstGraphs(c: KernelCase, seed: number) {
  const r = await rt();
  const runs0 = r.kernelRuns;
  const kernels = (await r.kernels())!;
  const N = c.positions.length;
  const rand = mulberry32(seed);
  const host = (n: number) => uniform(rand, n);
  const up = (data: Float32Array, dims: number[]) => r.upload(r.tensor('float32', data, dims));
  const q = await up(host(c.H * N * c.D), [1, c.H, N, c.D]);
  const k = await up(host(c.KV * N * c.D), [1, c.KV, N, c.D]);
  const v = await up(host(c.KV * N * c.D), [1, c.KV, N, c.D]);
  const dO = await up(host(c.H * N * c.D), [1, c.H, N, c.D]);
  const shape = attentionShape(q, k, c.group || null);
  const starts = c.group ? tileStarts(c.positions, c.group, KERNEL_ROWS) : null;
  const fwd = kernels.attentionForward(q, k, v, shape, c.positions, starts);
  const bwd = kernels.attentionBackward({ q, k, v, o: fwd.o, lse: fwd.lse, dO }, shape, c.positions, starts);

  const cfg = { family: 'llama', heads: c.H, kvHeads: c.KV, headDim: c.D } as ModelConfig;
  const seg = segmentGraphs(cfg, c.group > 0);
  const i64 = (xs: number[]) => r.tensor('int64', BigInt64Array.from(xs.map(BigInt)), [xs.length]);
  const all = Array.from({ length: N }, (_, i) => i);
  const feeds: Record<string, Tensor> = {
    q, k, v, qrows: i64(all), krows: i64(all), qpos: r.tensor('float32', Float32Array.from(c.positions), [N]), kpos: r.tensor('float32', Float32Array.from(c.positions), [N]),
  };
  if (c.group) feeds.qgrp = feeds.kgrp = r.tensor('float32', shiftedGroups(c.positions, c.H, c.group), [c.H, N]);
  const go = (await r.run(seg.first, feeds)).o;
  const gb = await r.run(seg.backwardFirst, { ...feeds, [gradName('o')]: dO });
  const read = async (t: Tensor) => Float32Array.from((await r.read(t)) as Float32Array);
  const out = {
    o: maxRel(await read(fwd.o), await read(go)),
    dq: maxRel(await read(bwd.dq), await read(gb[gradName('q')])),
    dk: maxRel(await read(bwd.dk), await read(gb[gradName('k')])),
    dv: maxRel(await read(bwd.dv), await read(gb[gradName('v')])),
    runs: r.kernelRunsSince(runs0),
  };
  for (const t of [q, k, v, dO, fwd.o, fwd.lse, bwd.dq, bwd.dk, bwd.dv, go, ...Object.values(gb)]) r.dispose(t);
  return out;
}

/**
 * The kernel backward's gradient of L = Σ o ∘ R against (L(x + ε) − L(x − ε)) / 2ε from the
 * kernel forward, at `count` coordinates of each of q, k and v (in float64 on the host).
 */
export async function attentionFiniteDifferences(c: KernelCase, seed: number, count: number, eps: number) {
  const r = await rt();
  const kernels = (await r.kernels())!;
  const N = c.positions.length;
  const rand = mulberry32(seed);
  const host = (n: number) => uniform(rand, n);
  const data = { q: host(c.H * N * c.D), k: host(c.KV * N * c.D), v: host(c.KV * N * c.D) };
  const R = host(c.H * N * c.D);
  const dims = { q: [1, c.H, N, c.D], k: [1, c.KV, N, c.D], v: [1, c.KV, N, c.D] };
  const up = (x: Float32Array, d: number[]) => r.upload(r.tensor('float32', x, d));
  const starts = c.group ? tileStarts(c.positions, c.group, KERNEL_ROWS) : null;
  const loss = async (x: typeof data) => {
    // One session run at a time: onnxruntime's WebGPU build cannot interleave them.
    const [q, k, v] = [await up(x.q, dims.q), await up(x.k, dims.k), await up(x.v, dims.v)];
    const f = kernels.attentionForward(q, k, v, attentionShape(q, k, c.group || null), c.positions, starts);
    const o = (await r.read(f.o)) as Float32Array;
    for (const t of [q, k, v, f.o, f.lse]) r.dispose(t);
    let s = 0;
    for (let i = 0; i < o.length; i++) s += o[i] * R[i];
    return s;
  };
  const [q, k, v] = [await up(data.q, dims.q), await up(data.k, dims.k), await up(data.v, dims.v)];
  const f = kernels.attentionForward(q, k, v, attentionShape(q, k, c.group || null), c.positions, starts);
  const dO = await up(R, dims.q);
  const b = kernels.attentionBackward({ q, k, v, o: f.o, lse: f.lse, dO }, attentionShape(q, k, c.group || null), c.positions, starts);
  const grads = { q: (await r.read(b.dq)) as Float32Array, k: (await r.read(b.dk)) as Float32Array, v: (await r.read(b.dv)) as Float32Array };
  const worst: Record<string, number> = {};
  for (const name of ['q', 'k', 'v'] as const) {
    let err = 0;
    for (let n = 0; n < count; n++) {
      const i = Math.floor(rand() * data[name].length);
      const plus = { ...data, [name]: Float32Array.from(data[name]) };
      const minus = { ...data, [name]: Float32Array.from(data[name]) };
      plus[name][i] += eps;
      minus[name][i] -= eps;
      const fd = ((await loss(plus)) - (await loss(minus))) / (2 * eps);
      err = Math.max(err, Math.abs(fd - grads[name][i]) / Math.max(1, Math.abs(fd)));
    }
    worst[name] = err;
  }
  for (const t of [q, k, v, dO, f.o, f.lse, b.dq, b.dk, b.dv]) r.dispose(t);
  return worst;
}

/** One AdamW step by the kernel (in place) and by the AdamW graph, from the same state. */
export async function adamwAgainstGraph(n: number, step: number, seed: number) {
  const r = await rt();
  const kernels = (await r.kernels())!;
  const rand = mulberry32(seed);
  const host = (scale: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
  const [p, g, m] = [host(1), host(1), host(0.1)];
  const v = Float32Array.from(host(0.01), (x) => Math.abs(x));
  const s = { lr: 3e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
  const up = (x: Float32Array) => r.upload(r.tensor('float32', x, [1, n]));
  const t = { p: await up(p), g: await up(g), m: await up(m), v: await up(v) };
  kernels.adamw(t, { ...s, bc1: 1 - s.beta1 ** step, bc2: 1 - s.beta2 ** step });
  const scalar = (x: number) => r.tensor('float32', Float32Array.of(x), []);
  const ref = await r.run(adamwGraph(), {
    p: await up(p), g: await up(g), m: await up(m), v: await up(v),
    lr: scalar(s.lr), beta1: scalar(s.beta1), beta2: scalar(s.beta2), eps: scalar(s.eps), wd: scalar(s.weightDecay), bc1: scalar(1 - s.beta1 ** step), bc2: scalar(1 - s.beta2 ** step),
  });
  const read = async (x: Tensor) => Float32Array.from((await r.read(x)) as Float32Array);
  const moved = maxRel(await read(t.p), p);
  return { p: maxRel(await read(t.p), await read(ref.p_new)), m: maxRel(await read(t.m), await read(ref.m_new)), v: maxRel(await read(t.v), await read(ref.v_new)), moved };
}

/**
 * GPU read backs (mapAsync) during one training step of lemo-tiny on T tokens (after a first
 * step that compiles everything), by what asked for them: a graph's name when a session run
 * waited on one, `read:…` for the engine's own reads; for each offload mode on the page's one
 * step runtime, with the growth of the GPU's live buffer bytes over that step.
 */
export async function stepReadBacks(T: number, offloads: ('none' | 'host' | 'lemo')[]) {
  installGpuBufferTracker();
  const counts = new Map<string, number>();
  let phase = 'setup';
  const proto = (globalThis as unknown as { GPUBuffer: { prototype: { mapAsync(...a: unknown[]): Promise<void> } } }).GPUBuffer.prototype;
  const map = proto.mapAsync;
  proto.mapAsync = function (...a: unknown[]) {
    counts.set(phase, (counts.get(phase) ?? 0) + 1);
    return map.apply(this, a);
  };
  // The runtime's session runs and reads, counted by phase; put back as they were after.
  const { r, model } = await stepSetup();
  const within = <T>(name: string, f: () => Promise<T>) => async () => {
    const prev = phase;
    phase = name;
    try { return await f(); } finally { phase = prev; }
  };
  const [run, read] = [r.run, r.read];
  r.run = (g, feeds) => within(g.name, () => run.call(r, g, feeds))();
  r.read = (t) => within(`read:${phase}`, () => read.call(r, t))();
  const dm = await DeviceModel.upload(r, model);
  try {
    const ids = [Array.from({ length: T }, (_, i) => (i * 7919) % model.config.vocabSize)];
    const out = [];
    for (const offload of offloads) {
      // 'lemo': no offload, the layers' tokens chosen by the model's predictors under the artifact's policy.
      const trainer = await Trainer.create(dm, model, settingsLora(DEFAULT_SETTINGS, model.config), { offload: { mode: offload === 'lemo' ? 'none' : offload } });
      let selector: TokenSelector = DENSE;
      if (offload === 'lemo') {
        const predictors = await DevicePredictors.upload(r, await tinyPredictors(), model.config);
        selector = selectorFor({ mode: 'lemo', predictors, policy: artifactPolicy(model.config.layers) }, model.config.layers);
      }
      await trainer.step(ids, selector);
      const live = gpuBufferBytes();
      counts.clear();
      phase = 'step';
      const step = await trainer.step(ids, selector);
      phase = 'setup';
      const sparseLayers = (selector as Selector).last?.kept.filter((k) => k !== null).length ?? 0;
      out.push({ offload, counts: Object.fromEntries(counts), loss: step.loss, runs: r.kernelRuns, layers: model.config.layers, sparseLayers, gpuGrowth: gpuBufferBytes() - live, offloadedPeak: r.memory.peak.offloaded, pool: r.poolStats() });
      trainer.dispose();
    }
    return out;
  } finally {
    dm.dispose();
    [r.run, r.read] = [run, read];
    proto.mapAsync = map;
  }
}

/**
 * The step checks' runtime and model, one for the page: a second call reuses the sessions the
 * first made (a fresh runtime costs SwiftShader most of a first step again).
 */
let stepped: Promise<{ r: Runtime; model: Model }> | null = null;
function stepSetup(): Promise<{ r: Runtime; model: Model }> {
  stepped ??= tinyModel().then((model) => ({ r: new Runtime(ort, { provider: 'webgpu' }), model }));
  return stepped;
}

const TINY = '/models/lemo-tiny';

/** lemo-tiny as shipped (bfloat16), from the page's origin. */
async function tinyModel(): Promise<Model> {
  const config = await (await fetch(`${TINY}/config.json`)).json();
  return loadModel({ config, weights: new Uint8Array(await (await fetch(`${TINY}/model.safetensors`)).arrayBuffer()) });
}

/** lemo-tiny's shipped predictors. */
async function tinyPredictors(): Promise<PredictorSet> {
  return PredictorSet.fromBytes(new Uint8Array(await (await fetch(`${TINY}/predictors.safetensors`)).arrayBuffer()));
}

/** The oracle's tile map by the kernel against the score graph (by query segments of 64 rows). */
export async function blockScoresAgainstGraph(c: { H: number; KV: number; D: number; T: number; block: number }, seed: number) {
  const r = await rt();
  const runs0 = r.kernelRuns;
  const kernels = (await r.kernels())!;
  const rand = mulberry32(seed);
  const host = (n: number) => uniform(rand, n);
  const q = await r.upload(r.tensor('float32', host(c.H * c.T * c.D), [1, c.H, c.T, c.D]));
  const k = await r.upload(r.tensor('float32', host(c.KV * c.T * c.D), [1, c.KV, c.T, c.D]));
  const cfg = { family: 'llama', heads: c.H, kvHeads: c.KV, headDim: c.D } as ModelConfig;
  const supported = kernels.supportsBlocks(c.block, c.D);
  const mine = await kernels.blockTiles(q, k, c.block);
  const ref = await blockTiles(r, buildScoreGraph(cfg, c.block), q, k, c.T, c.block, 64);
  for (const t of [q, k]) r.dispose(t);
  const nonzero = ref.filter((x) => x > 0).length;
  return { supported, err: maxRel(mine, ref), tiles: ref.length, nonzero, runs: r.kernelRunsSince(runs0) };
}

/** The limits of onnxruntime's device against its adapter's (the storage binding, the buffer, workgroup memory). */
export async function deviceLimits() {
  const r = await rt();
  const kernels = (await r.kernels())!;
  const adapter = await (navigator as unknown as { gpu: GPU }).gpu.requestAdapter();
  const pick = (l: GPUSupportedLimits) => ({ binding: l.maxStorageBufferBindingSize, buffer: l.maxBufferSize, workgroup: l.maxComputeWorkgroupStorageSize, storageBuffers: l.maxStorageBuffersPerShaderStage });
  return { device: pick(kernels.device.limits), adapter: pick(adapter!.limits) };
}

/**
 * 2-byte values widened by the kernel against the host's widening, bit for bit (a NaN against
 * any NaN): bf16 and f16 bits with zeros of both signs, subnormals, infinities and NaNs among them.
 */
export async function widenAgainstHost() {
  const r = await rt();
  const runs0 = r.kernelRuns;
  const kernels = (await r.kernels())!;
  const special = [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x83ff, 0x0200, 0x0400, 0x3c00, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xfe00, 0xff80, 0x7f80, 0x0080, 0x007f];
  // An odd count: the last value sits alone in the low half of its word.
  const bits = Uint16Array.from({ length: 70_001 }, (_, i) => (i < special.length ? special[i] : ((i * 2654435761) >>> 16) & 0xffff));
  const src = kernels.halfBuffer(bits);
  const out: Record<string, { mismatches: number; nans: number; infinities: number; subnormals: number; zeros: number }> = {};
  for (const kind of ['bf16', 'f16'] as const) {
    const t = kernels.widen(src, kind, [bits.length]);
    const got = (await r.read(t)) as Float32Array;
    const want = widenHalf(bits, kind);
    const [g, w] = [new Uint32Array(got.buffer, got.byteOffset, got.length), new Uint32Array(want.buffer)];
    const o = { mismatches: 0, nans: 0, infinities: 0, subnormals: 0, zeros: 0 };
    for (let i = 0; i < bits.length; i++) {
      const nan = Number.isNaN(want[i]);
      if (nan ? !Number.isNaN(got[i]) : g[i] !== w[i]) o.mismatches++;
      o.nans += nan ? 1 : 0;
      o.infinities += Math.abs(want[i]) === Infinity ? 1 : 0;
      o.zeros += want[i] === 0 ? 1 : 0;
      // A value whose 2-byte exponent is zero but which is not zero.
      o.subnormals += (kind === 'f16' ? (bits[i] & 0x7c00) === 0 && (bits[i] & 0x3ff) !== 0 : (bits[i] & 0x7f80) === 0 && (bits[i] & 0x7f) !== 0) ? 1 : 0;
    }
    out[kind] = o;
    r.dispose(t);
  }
  kernels.freeBuffer(src);
  return { ...out, runs: r.kernelRunsSince(runs0), length: bits.length };
}

/**
 * lemo-tiny (stored in bfloat16) against the same values widened to float32 up front: the loss and
 * LoRA gradients of one pass of T tokens, compared bit for bit, and the accountant's weights.
 */
export async function halfStepAgainstWidened(T: number) {
  // Its first layer only (e2e/model-cut.ts): every kind of weight, a sixth of the dispatches.
  const { config, weights: bytes } = await firstLayers(TINY, 1);
  const wide = new Map([...readSafetensors(bytes)].map(([n, t]) => [n, { shape: t.shape, data: t.data }]));
  // One runtime for both (its sessions compile once); the accountant's weights and the kernel's runs by difference.
  const r = await rt();
  const pass = async (weights: Uint8Array) => {
    const [before, runs] = [r.memory.live.weights, r.kernelRuns];
    const model = loadModel({ config, weights });
    const trainer = await Trainer.create(r, model, settingsLora(DEFAULT_SETTINGS, model.config), { seed: 3 });
    const stored = r.memory.live.weights - before;
    const ids = [Array.from({ length: T }, (_, i) => (i * 7919) % model.config.vocabSize)];
    const { loss, grads } = await trainer.lossAndGrads(ids);
    const bits: Record<string, number[]> = {};
    for (const [k, g] of grads) bits[k] = Array.from(new Uint32Array(Float32Array.from((await r.read(g)) as Float32Array).buffer));
    grads.forEach((g) => r.dispose(g));
    trainer.dispose();
    trainer.dm.dispose();
    return { loss, bits, stored, widen: r.kernelRunsSince(runs).widen_half ?? 0 };
  };
  const half = await pass(bytes);
  const widened = await pass(writeSafetensors(wide));
  const names = Object.keys(widened.bits);
  const differing = names.filter((k) => half.bits[k]?.some((b, i) => b !== widened.bits[k][i]) ?? true);
  return { losses: [half.loss, widened.loss], differing, names: names.length, stored: [half.stored, widened.stored], widenRuns: [half.widen, widened.widen] };
}

/**
 * lemo-tiny's predicted block scores on the GPU with the hidden widths padded to PAD_WIDTH (its
 * pruned 45 units become 48: the WebGPU upload) against the same predictors unpadded, every layer, T tokens.
 */
export async function paddedPredictorsAgainstUnpadded(T: number) {
  const r = await rt();
  const model = await tinyModel();
  const set = await tinyPredictors();
  const dm = await DeviceModel.upload(r, model);
  const padded = await DevicePredictors.upload(r, set, model.config);
  const plain = DevicePredictors.wrap(r, set, model.config, await Promise.all(set.config.layers.map((_, l) => uploadLayer(r, set, l))));
  const rand = mulberry32(5);
  const h = await r.upload(r.tensor('float32', uniform(rand, T * model.config.hidden), [1, T, model.config.hidden]));
  const out = [];
  for (let l = 0; l < set.config.layers.length; l++) {
    const norms = normWeights(model.config, dm.floatWeights(l));
    const [a, b] = [await padded.scores(l, h, T, norms), await plain.scores(l, h, T, norms)];
    out.push({ layer: l, widths: [set.config.layers[l].q.r1, (padded.tensors[l].get('q.w1')!.dims[1])], rel: maxRel(a, b), n: a.length });
  }
  return out;
}

/**
 * A loss-and-gradients pass of lemo-tiny cut to two layers, its layers' graphs run by the
 * engine's own kernels (Runtime's ownGraphs) and by onnxruntime, dense and with the oracle
 * leaving half the tokens out of layer 1 (and half the channels of its MLP's backward): the loss
 * and every LoRA gradient's largest difference over its largest value, and which graphs each ran.
 */
export async function ownGraphsAgainstOnnxruntime(T: number) {
  const { config, weights } = await firstLayers(TINY, 2);
  const ids = [Array.from({ length: T }, (_, i) => (i * 7919) % 4096)];
  // One runtime each way for both passes (a runtime compiles its sessions and pipelines once).
  const runtimes = [new Runtime(ort, { provider: 'webgpu', ownGraphs: false }), new Runtime(ort, { provider: 'webgpu', ownGraphs: true })];
  const pass = async (r: Runtime, sparse: boolean) => {
    const runner = await r.graphRunner();
    const before = new Map(runner?.counts.ran ?? []);
    const model = loadModel({ config, weights });
    const trainer = await Trainer.create(r, model, settingsLora(DEFAULT_SETTINGS, model.config), { seed: 5 });
    const selector = sparse ? selectorFor({ mode: 'oracle', block: 8, policy: [{ kind: 'dense' }, { kind: 'ratio', keep: 0.5 }], mlpKeep: 0.5 }, 2) : DENSE;
    const { loss, grads } = await trainer.lossAndGrads(ids, selector);
    const data: Record<string, Float32Array> = {};
    for (const [k, g] of grads) data[k] = Float32Array.from((await r.read(g)) as Float32Array);
    grads.forEach((g) => r.dispose(g));
    const ran = [...(runner?.counts.ran ?? [])].filter(([g, n]) => n > (before.get(g) ?? 0)).map(([g]) => g);
    const kept = (selector as Selector).last?.kept ?? null;
    trainer.dispose();
    trainer.dm.dispose();
    return { loss, data, ran, declined: Object.fromEntries(runner?.counts.declined ?? []), kept };
  };
  const out = [];
  for (const sparse of [false, true]) {
    const runs = runtimes[1].kernelRuns;
    const a = await pass(runtimes[0], sparse);
    const b = await pass(runtimes[1], sparse);
    const errs = Object.fromEntries(Object.keys(a.data).map((k) => [k, maxRel(b.data[k], a.data[k])]));
    out.push({ sparse, losses: [a.loss, b.loss], errs, grads: Object.keys(a.data).length, ran: b.ran, ranWithout: a.ran, declined: b.declined, graphDispatches: runtimes[1].kernelRunsSince(runs).graph_matmul ?? 0, topk: runtimes[1].kernelRunsSince(runs).graph_topk ?? 0, kept: b.kept });
  }
  for (const r of runtimes) await r.release();
  return out;
}

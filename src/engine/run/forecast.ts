// The memory a training run will take, forecast before it starts from the same graphs the step
// runs: each part's saved values and planned transients under the run's batch, context and
// kept rows per layer, walked in the step's order (forward, head, backward) as the accountant
// would see them. The peak of that walk, with the weights, LoRA factors and AdamW's moments
// beside it, is the run's peak by kind.
import { gradName } from '../graph/autodiff';
import type { Graph } from '../graph/ir';
import { MEMORY_KINDS, type ByKind } from '../memory/accountant';
import { runBytes } from '../memory/plan';
import type { LoraConfig } from '../model/lora';
import { targetedModules } from '../model/lora';
import { layerModules } from '../model/architecture';
import { modelHostBytes, type HostTensor, type Model } from '../model/model';
import type { LayerPolicy } from '../sparsity/policy';
import { headGraphs, layerGraphs, segmentGraphs, type LayerGraphs, type SegmentGraphs } from '../train/layer-graphs';
import { Segments } from '../train/segments';
import { storedInChunks } from '../train/tables';
import type { Runtime } from '../runtime/runtime';
import type { MemoryBudget } from '../model/safetensors';
import type { OffloadMode, TrainSettings } from '../settings';
import { runPolicy, type PolicyFile } from '../sparsity/run-policy';

export interface StepForecast {
  /** Peak bytes of all kinds together, and how they split at that moment. */
  peak: number;
  split: ByKind;
  /** Rows (tokens of a window) each layer keeps. */
  keptRows: number[];
  /** The largest tensor a part of the step outputs (a GPU buffer under WebGPU). */
  largestTensor: number;
  /**
   * The most one session run holds at once: its inputs, transients and outputs. Under WASM that is
   * what onnxruntime's heap must take (a run's inputs are copied in, its outputs copied out).
   */
  runPeak: number;
  /** The most bytes of saved activations disk offload keeps in its store at once (0 without disk offload). */
  stored: number;
}

export interface ForecastPlan {
  model: Model;
  lora: LoraConfig;
  batch: number;
  ctx: number;
  /** Kept rows per layer (ctx: dense). */
  rows: number[];
  mlpKeep: number | null;
  /** Bytes of weights besides the model's own (the predictors on the device). */
  extraWeights: number;
  /** Where saved activations wait for their backward (train/offload.ts); none when absent. */
  offload?: OffloadMode;
}

/** Rows a layer keeps under its policy at `block` tokens per block; `share` is a threshold layer's expected share of blocks (null: all). */
export function keptRows(p: LayerPolicy, ctx: number, block: number, share: number | null): number {
  const n = Math.ceil(ctx / block);
  let k = n;
  if (p.kind === 'ratio') k = Math.max(1, Math.ceil(p.keep * n));
  else if (p.kind === 'threshold' && share !== null) k = Math.min(n, Math.max(1, Math.ceil(share * n)));
  return k >= n ? ctx : k * block;
}

const zero = (): ByKind => ({ weights: 0, adapter: 0, optimizer: 0, gradients: 0, activations: 0, offloaded: 0, transient: 0 });

/** The walk's running activations and gradients, and the largest moment seen. */
class Walk {
  act = 0;
  grads = 0;
  largest = 0;
  /** The largest run: inputs, transients and outputs together. */
  runPeak = 0;
  /** float32 copies of 2-byte weights alive now (a layer's, or the head's). */
  widened = 0;
  /** Saved activations parked in host memory (host offload), and written to the store (disk offload), now and at most. */
  off = 0;
  stored = 0;
  storedPeak = 0;
  peak = zero();
  private peakSum = -1;

  /** A moment where a run of `transient` bytes starts beside what is alive. */
  at(transient: number): void {
    const sum = this.act + this.grads + transient + this.widened + this.off;
    if (sum > this.peakSum) [this.peakSum, this.peak] = [sum, { ...zero(), activations: this.act, gradients: this.grads, transient, weights: this.widened, offloaded: this.off }];
  }

  /** Runs a graph: its transient beside what is alive, then its outputs alive as activations. */
  run(g: Graph, env: Map<string, number>): Map<string, number> {
    const r = runBytes(g, env);
    this.at(r.transient);
    this.runPeak = Math.max(this.runPeak, r.inputs + r.transient + sum(r.outputs));
    for (const b of r.outputs.values()) [this.act, this.largest] = [this.act + b, Math.max(this.largest, b)];
    return r.outputs;
  }
}

interface Parts {
  graphs: (l: number, sparse: boolean) => LayerGraphs;
  seg: SegmentGraphs;
  segments: Segments;
}

/**
 * Offload as the walk sees it (train/offload.ts SavedLayers): after its forward a layer's saved
 * bytes leave the activations, for host memory or the store; its backward takes them back with
 * the layer below prefetched, so two layers' worth are activations again at once.
 */
class Parking {
  private parked: boolean[] = [];

  constructor(private readonly w: Walk, private readonly mode: OffloadMode, private readonly saved: number[]) {}

  park(l: number): void {
    if (this.mode === 'none') return;
    this.parked[l] = true;
    this.move(this.saved[l], -1);
  }

  /** Layer l back for its backward, and l-1 on its way. */
  take(l: number): void {
    for (const k of [l, l - 1]) {
      if (k < 0 || !this.parked[k]) continue;
      this.parked[k] = false;
      this.move(this.saved[k], 1);
    }
  }

  /** `sign` 1: bytes come back into the activations; -1: they leave them. */
  private move(bytes: number, sign: number): void {
    const w = this.w;
    w.act += sign * bytes;
    if (this.mode === 'host') w.off -= sign * bytes;
    else w.stored -= sign * bytes;
    w.storedPeak = Math.max(w.storedPeak, w.stored);
  }
}

const sum = (m: Map<string, number>, keep: (name: string) => boolean = () => true) => [...m].reduce((s, [n, b]) => s + (keep(n) ? b : 0), 0);
const isLoraGrad = (n: string) => n.includes('.lora_');

/** Attention by query segments, forward or backward: the largest segment beside the running accumulator. */
function attention(w: Walk, p: Parts, env: Map<string, number>, R: number, backward: boolean): Map<string, number> {
  const segs = p.segments.attention(R);
  const [s0, e0] = segs[0];
  const first = w.run(backward ? p.seg.backwardFirst : p.seg.first, new Map([...env, ['S', e0 - s0], ['E', e0]]));
  if (segs.length === 1) return first;
  const [s, e] = segs[segs.length - 1];
  const rest = runBytes(backward ? p.seg.backwardRest : p.seg.rest, new Map([...env, ['S', e - s], ['E', e]]));
  w.at(rest.transient);
  return first;
}

/** One layer's forward; returns the bytes its backward holds (freed by that backward). */
function forwardLayer(w: Walk, p: Parts, plan: ForecastPlan, l: number): number {
  const { cfg, B, T, R } = { cfg: plan.model.config, B: plan.batch, T: plan.ctx, R: plan.rows[l] };
  const g = p.graphs(l, R < T);
  const env = new Map([['B', B], ['T', T], ['K', R]]);
  const rope = cfg.rope ? 2 * 4 * R * cfg.headDim : 0;
  w.act += rope;
  w.widened = widenedBytes(plan.model.layers[l].values());
  const pre = w.run(g.pre.forward, env);
  const o = sum(attention(w, p, env, R, false));
  const post = w.run(g.post.forward, env);
  const h = 4 * B * T * cfg.hidden;
  const savedO = g.post.saved.includes('o');
  const savedH = g.pre.saved.includes('h') || g.post.saved.includes('h');
  if (!savedO) w.act -= o;
  if (!savedH) w.act -= h;
  w.widened = 0;
  return rope + sum(pre) + sum(post, (n) => n !== 'out') + (savedO ? o : 0) + (savedH ? h : 0);
}

/** One layer's backward from dOut (B, T, C): the LoRA gradients stay, the layer's saved values go. */
function backwardLayer(w: Walk, p: Parts, plan: ForecastPlan, l: number, saved: number): void {
  const { B, T, R } = { B: plan.batch, T: plan.ctx, R: plan.rows[l] };
  const g = p.graphs(l, R < T);
  const env = new Map([['B', B], ['T', T], ['K', R]]);
  const dh = 4 * B * T * plan.model.config.hidden;
  const moveGrads = (out: Map<string, number>) => {
    const lora = sum(out, isLoraGrad);
    [w.act, w.grads] = [w.act - lora, w.grads + lora];
  };
  w.widened = widenedBytes(plan.model.layers[l].values());
  const post = w.run(g.post.backward, env);
  moveGrads(post);
  w.act -= dh;
  const dqkv = sum(attention(w, p, env, R, true));
  w.act -= post.get(gradName('o')) ?? 0;
  moveGrads(w.run(g.pre.backward, env));
  w.act -= dqkv + (post.get(gradName('h')) ?? 0) + saved;
  w.widened = 0;
}

/**
 * The LM head by token segments, each by vocabulary chunks (a chunk's rows copied out of the
 * table when there are several: on a GPU it is a copy, on the CPU a view, counted all the same;
 * none when the table is stored in those chunks, lent in place):
 * the chunks' stats, then loss and dh; the final h is freed after it.
 */
function head(w: Walk, plan: ForecastPlan, segments: Segments, bufferLimit: number, onDevice: boolean): void {
  const { B, T, C } = { B: plan.batch, T: plan.ctx, C: plan.model.config.hidden };
  const hg = headGraphs(plan.model.config, onDevice);
  const chunks = segments.headChunks();
  const S = Math.min(T, segments.headRows());
  const N = chunks[0][1] - chunks[0][0];
  const env = new Map([['B', B], ['T', T], ['S', S], ['N', N]]);
  // A chunk's rows: widened from 2 bytes (weights), or copied out of a float32 table stored whole when there are several.
  const half = !!plan.model.lmHead.half;
  const copy = !half && chunks.length > 1 && !storedInChunks(plan.model.lmHead, bufferLimit) ? 4 * C * N : 0;
  const segment = (first: boolean) => {
    w.act += copy;
    if (half) w.widened = 4 * C * N;
    const stats = sum(w.run(hg.chunkGrads.first, env));
    if (chunks.length > 1) w.at(runBytes(hg.chunkGrads.rest, env).transient);
    w.act -= copy;
    w.widened = 0;
    // The stats and the loss go; the first segment's dh stays, a later one replaces the one before.
    w.act -= stats + sum(w.run(first ? hg.first : hg.rest, env), (n) => !first || n !== gradName('h'));
  };
  segment(true);
  if (T > S) segment(false);
  w.act -= 4 * B * T * C;
}

/** Bytes of the LoRA factors of a run (AdamW holds two moments of each). */
export function adapterBytes(model: Model, lora: LoraConfig): number {
  const cfg = model.config;
  const modules = new Map(layerModules(cfg).map((m) => [m.name, m]));
  let n = 0;
  for (let l = 0; l < cfg.layers; l++) for (const name of targetedModules(cfg, lora, l)) n += lora.r * (modules.get(name)!.in + modules.get(name)!.out);
  return 4 * n;
}

/** Bytes of the float32 copies of the 2-byte weights among these, made while a graph reads them. */
function widenedBytes(ts: Iterable<HostTensor>): number {
  let n = 0;
  for (const t of ts) if (t.half) n += 4 * t.data.length;
  return n;
}

/** The forecast peak of a training run's steps, by kind. */
export function forecastStep(rt: Pick<Runtime, 'transientBudget' | 'bufferLimit' | 'onDevice'>, plan: ForecastPlan): StepForecast {
  const cfg = plan.model.config;
  const cache = new Map<string, LayerGraphs>();
  const graphs = (l: number, sparse: boolean) => {
    const targeted = targetedModules(cfg, plan.lora, l);
    const key = `${sparse}:${[...targeted].sort().join(',')}`;
    if (!cache.has(key)) cache.set(key, layerGraphs({ cfg, lora: plan.lora, targeted, sparse, dtype: 'float32', mlpKeep: plan.mlpKeep }));
    return cache.get(key)!;
  };
  const segments = new Segments(rt as Runtime, cfg);
  const parts: Parts = { graphs, seg: segmentGraphs(cfg), segments };
  const w = new Walk();
  w.act = 4 * plan.batch * plan.ctx * cfg.hidden;
  const saved: number[] = [];
  const parking = new Parking(w, plan.offload ?? 'none', saved);
  plan.rows.forEach((_, l) => {
    saved.push(forwardLayer(w, parts, plan, l));
    parking.park(l);
  });
  head(w, plan, segments, rt.bufferLimit, rt.onDevice);
  for (let l = cfg.layers - 1; l >= 0; l--) {
    parking.take(l);
    backwardLayer(w, parts, plan, l, saved[l]);
  }
  const adapter = adapterBytes(plan.model, plan.lora);
  const split: ByKind = { ...w.peak, weights: w.peak.weights + modelHostBytes(plan.model) + plan.extraWeights, adapter, optimizer: 2 * adapter };
  return { peak: MEMORY_KINDS.reduce((s, k) => s + split[k], 0), split, keptRows: [...plan.rows], largestTensor: w.largest, runPeak: w.runPeak, stored: w.storedPeak };
}

/** A run's forecast: dense, and with the run's token elimination (lemo, or the oracle without predictors), against the tab's budget. */
export interface RunForecast {
  batch: number;
  ctx: number;
  dense: StepForecast;
  sparse: StepForecast & { mode: 'lemo' | 'oracle' };
  /** Where the run's saved activations wait for their backward. */
  offload: OffloadMode;
  /** The peaks with disk offload instead, when the run offloads otherwise and does not fit its budget (else null). */
  withDisk: { dense: number; sparse: number } | null;
  /**
   * What the memory of this engine may hold (bytes Infinity: no limit known, as under WebGPU, whose
   * GPU memory the browser does not report), and the most one tensor may take there; null: no budget.
   */
  budget: { bytes: number; source: string; maxTensor: { bytes: number; source: string } | null; heap: { bytes: number; source: string } | null } | null;
}

export interface RunForecastPlan {
  model: Model;
  lora: LoraConfig;
  /** The run's settings as given: the policy is the one runPolicy picks (the model's policy.json, with its measured shares, unless they give one). */
  settings: TrainSettings;
  modelPolicy: PolicyFile | null;
  predictors: { block: number; bytes: number } | null;
  budget: MemoryBudget | undefined;
}

/** Kept rows per layer of a sparse mode: ratio layers exactly; threshold layers at the share the policy file measured, else all. */
export function sparseRows(p: Pick<RunForecastPlan, 'settings' | 'modelPolicy' | 'predictors'>, mode: 'lemo' | 'oracle', layers: number): { rows: number[]; mlpKeep: number | null } {
  const r = runPolicy(p.settings, layers, p.modelPolicy);
  const block = mode === 'lemo' && p.predictors ? p.predictors.block : r.block;
  const measured = r.source === 'model' ? (mode === 'lemo' ? p.modelPolicy?.calibrated?.layers : p.modelPolicy?.tuned?.layers) : undefined;
  const share = (l: number) => measured?.find((m) => m.layer === l)?.kept ?? null;
  return { rows: r.policy.map((lp, l) => keptRows(lp, p.settings.ctx, block, share(l))), mlpKeep: r.mlpKeep };
}

/** The budget a forecast is held to: the engine's memory when the run's tensors live in it (WASM, the CPU), and the device's largest tensor. */
function budgetOf(b: MemoryBudget | undefined): RunForecast['budget'] {
  if (!b) return null;
  return { bytes: b.deviceSeparate ? Infinity : b.bytes, source: b.deviceSeparate ? '' : b.source, maxTensor: b.maxTensor ?? null, heap: b.heap ?? null };
}

export function forecastRun(rt: Pick<Runtime, 'transientBudget' | 'bufferLimit' | 'onDevice'>, p: RunForecastPlan): RunForecast {
  const { model, lora, settings: s } = p;
  const L = model.config.layers;
  const offload = s.offload ?? 'none';
  const mode = s.sparsity === 'oracle' || (s.sparsity === 'dense' && !p.predictors) ? 'oracle' : 'lemo';
  const { rows, mlpKeep } = sparseRows(p, mode, L);
  const plans = (o: OffloadMode) => [
    { model, lora, batch: s.batch, ctx: s.ctx, rows: Array<number>(L).fill(s.ctx), mlpKeep: null, extraWeights: 0, offload: o },
    { model, lora, batch: s.batch, ctx: s.ctx, rows, mlpKeep, extraWeights: mode === 'lemo' && p.predictors ? p.predictors.bytes : 0, offload: o },
  ];
  const [dense, sparse] = plans(offload).map((plan) => forecastStep(rt, plan));
  const budget = budgetOf(p.budget);
  // What disk offload would take instead, for a refusal to name it when it fits.
  const over = !!budget && Number.isFinite(budget.bytes) && Math.max(dense.peak, sparse.peak) > budget.bytes;
  const disk = offload !== 'disk' && over ? plans('disk').map((plan) => forecastStep(rt, plan).peak) : null;
  return { batch: s.batch, ctx: s.ctx, dense, sparse: { ...sparse, mode }, offload, withDisk: disk && { dense: disk[0], sparse: disk[1] }, budget };
}

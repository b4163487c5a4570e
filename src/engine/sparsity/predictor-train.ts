// Training the pattern predictors (LEMO.md 3) with the base model frozen: for each window, the
// dense forward runs layer by layer; at each layer the oracle's tile map of that layer's input
// is the label, and one AdamW step on the layer's predictors lowers the SmoothL1 loss between
// the predicted and the oracle tile map (normalised by its mean). Elastic size: every hidden
// ReLU unit counts how often it is above zero; at `pruneAt`, the `prune` share of each hidden
// layer's units, the most often zero, is removed (with their optimizer state).
import { differentiate, gradName } from '../graph/autodiff';
import type { Graph } from '../graph/ir';
import type { ModelConfig } from '../model/config';
import type { Runtime, Tensor } from '../runtime/runtime';
import { ADAMW_DEFAULTS, adamwApply, adamwHyper, checkLearningRate } from '../train/adamw';
import { WindowSampler, windows } from '../train/data';
import type { Trainer } from '../train/trainer';
import { UserError } from '../errors';
import { checkBlock } from './blocks';
import { columnScores, oracleTiles } from './oracle';
import { keptBlocks, predictedPolicy, type LayerPolicy } from './policy';
import {
  blockLayout, buildPredictorGraph, DevicePredictors, normWeights, PARTS, paramName, PredictorSet, recall, shapeKey, SIDES,
  defaultSizes, inputWidth, uploadLayer, type PredictorArch, type PredictorObjective, type PredictorSizes, type Side,
} from './predictor';

export interface PredictorTrainPlan {
  ctx: number;
  steps: number;
  block: number;
  sizes?: PredictorSizes;
  lr: number;
  seed: number;
  /** Share of each hidden layer's units removed by elastic pruning (0: none). */
  prune: number;
  /** Step after which pruning happens (default: half the steps). */
  pruneAt?: number;
  /** Recall is measured on held-out windows every this many steps and at the end (0: only at the end). */
  evalEvery: number;
  /** Held-out windows per recall measurement. */
  evalWindows: number;
  /** The keep policy recall is measured under (per layer). */
  policy: LayerPolicy[];
  /** Layers to train (default: all). */
  layers?: number[];
  /** Predictors to continue training (their shape and sizes replace arch and sizes). */
  init?: PredictorSet;
  /** The predictors' shape (default pool). */
  arch?: PredictorArch;
  /** What the SmoothL1 loss compares: the tile maps, or the standardised block scores (default). */
  objective?: PredictorObjective;
}

export type PredictorProgress =
  | { type: 'step'; step: number; steps: number; loss: number; layerLoss: (number | null)[]; ms: number }
  | { type: 'prune'; step: number; parametersBefore: number; parametersAfter: number }
  | { type: 'recall'; step: number; recall: (number | null)[]; mean: number; windows: number };

/** Mean recall over the layers that have one. */
export function meanRecall(r: (number | null)[]): number {
  const xs = r.filter((x): x is number => x !== null);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

interface DeviceParam {
  value: Tensor;
  m: Tensor;
  v: Tensor;
}

/** The predictors a training starts from: the ones to continue (copied), or fresh ones. */
function startingSet(cfg: ModelConfig, plan: PredictorTrainPlan, objective: PredictorObjective): PredictorSet {
  const arch = plan.arch ?? 'pool';
  if (plan.init) {
    plan.init.checkModel(cfg);
    if (plan.init.config.block !== plan.block) throw new UserError(`The predictors to continue use blocks of ${plan.init.config.block} tokens, not ${plan.block}.`);
  }
  const set = plan.init
    ? new PredictorSet(structuredClone(plan.init.config), new Map([...plan.init.params].map(([k, v]) => [k, { shape: [...v.shape], data: Float32Array.from(v.data) }])))
    : PredictorSet.init(cfg, plan.block, plan.sizes ?? defaultSizes(cfg, plan.block, arch), plan.seed, arch);
  const earlier = plan.init?.config.training as { steps?: number } | undefined;
  set.config.training = { ctx: plan.ctx, steps: plan.steps + (earlier?.steps ?? 0), lr: plan.lr, seed: plan.seed, prune: plan.prune, objective };
  return set;
}

/** Mask (query block ≥ key block) and strict mask (>) over nb blocks. */
function blockMasks(nb: number): { mask: Float32Array; strict: Float32Array } {
  const mask = new Float32Array(nb * nb);
  const strict = new Float32Array(nb * nb);
  for (let m = 0; m < nb; m++) for (let n = 0; n <= m; n++) (mask[m * nb + n] = 1), (strict[m * nb + n] = n < m ? 1 : 0);
  return { mask, strict };
}

/** The labels of one layer's loss from the oracle's tile map, under the graph's input names. */
function labelFeeds(rt: Runtime, objective: PredictorObjective, tiles: Float64Array, nb: number, mask: Float32Array, strict: Float32Array): Record<string, Tensor> {
  if (objective === 'tiles') {
    // Tiles over their mean, so SmoothL1's quadratic zone fits every layer.
    const labels = new Float32Array(nb * nb);
    let sum = 0;
    for (let m = 0; m < nb; m++) for (let n = 0; n <= m; n++) sum += tiles[m * nb + n];
    const count = (nb * (nb + 1)) / 2;
    const scale = sum > 0 ? count / sum : 1;
    for (let i = 0; i < nb * nb; i++) labels[i] = tiles[i] * scale * mask[i];
    return { labels: rt.tensor('float32', labels, [1, nb, nb]), inv_count: rt.tensor('float32', Float32Array.of(1 / count), []) };
  }
  return {
    strict: rt.tensor('float32', strict, [nb, nb]),
    labels: rt.tensor('float32', standardise(columnScores(tiles, nb)), [1, nb]),
    inv_nb: rt.tensor('float32', Float32Array.of(1 / nb), []),
    inv_count: rt.tensor('float32', Float32Array.of(1 / nb), []),
  };
}

/** One training of predictors: the device copies, their AdamW moments, and the hidden units' liveness. */
class PredictorTraining {
  private readonly rt: Runtime;
  private readonly cfg: ModelConfig;
  readonly set: PredictorSet;
  readonly objective: PredictorObjective;
  readonly trained: Set<number>;
  private params: Map<string, DeviceParam>[] = [];
  private graphs = new Map<string, Graph>();
  /** How often each hidden unit was above zero since the last pruning. */
  private live: Record<string, Float64Array>[] = [];

  constructor(private readonly trainer: Trainer, private readonly plan: PredictorTrainPlan) {
    this.rt = trainer.rt;
    this.cfg = trainer.model.config;
    this.objective = plan.objective ?? 'scores';
    this.trained = new Set(plan.layers ?? Array.from({ length: this.cfg.layers }, (_, l) => l));
    this.set = startingSet(this.cfg, plan, this.objective);
    this.resetLive();
  }

  /** Device tensors per layer under the graph's names, and AdamW moments. */
  async upload(): Promise<void> {
    const rt = this.rt;
    const zerosLike = async (t: Tensor) => rt.upload(rt.tensor('float32', new Float32Array(t.dims.reduce((a, b) => a * b, 1)), t.dims));
    for (let l = 0; l < this.cfg.layers; l++) {
      const m = new Map<string, DeviceParam>();
      for (const [name, value] of await uploadLayer(rt, this.set, l)) {
        const p = { value, m: await zerosLike(value), v: await zerosLike(value) };
        rt.memory.track(p.m, 'optimizer');
        rt.memory.track(p.v, 'optimizer');
        m.set(name, p);
      }
      this.params.push(m);
    }
  }

  values(l: number): Map<string, Tensor> {
    return new Map([...this.params[l]].map(([n, p]) => [n, p.value]));
  }

  private resetLive(): void {
    this.live.length = 0;
    for (const sh of this.set.config.layers) {
      this.live.push({ q1: new Float64Array(sh.q.r1), q2: new Float64Array(sh.q.r2), k1: new Float64Array(sh.k.r1), k2: new Float64Array(sh.k.r2) });
    }
  }

  private trainGraph(l: number): Graph {
    const shape = this.set.config.layers[l];
    const key = shapeKey(shape);
    let g = this.graphs.get(key);
    if (!g) {
      const fb = buildPredictorGraph(this.cfg, this.set.config, shape, true, this.objective);
      const wrt = fb.inputs.map((i) => i.name).filter((n) => /^[qk]\.[wb]\d$/.test(n));
      g = differentiate(fb, { wrt, seeds: ['loss'], fusedOutputs: 'all' }).fused;
      this.graphs.set(key, g);
    }
    return g;
  }

  /** One AdamW step of layer l's predictors against the oracle's tile map of its input h; returns the loss. */
  async trainLayer(l: number, h: Tensor, T: number, step: number): Promise<number> {
    const { rt, plan } = this;
    const tiles = await oracleTiles(this.trainer, l, h, T, plan.block);
    const { nb, rows, valid } = blockLayout(T, plan.block);
    const { mask, strict } = blockMasks(nb);
    const feeds: Record<string, Tensor> = {
      h, ...normWeights(this.cfg, this.trainer.dm.floatWeights(l)), ...Object.fromEntries(this.values(l)),
      rows: rt.tensor('int64', rows, [nb, plan.block]), valid: rt.tensor('float32', valid, [nb, plan.block, 1]),
      mask: rt.tensor('float32', mask, [nb, nb]), [gradName('loss')]: rt.tensor('float32', Float32Array.of(1), []),
      ...labelFeeds(rt, this.objective, tiles, nb, mask, strict),
    };
    const out = await rt.run(this.trainGraph(l), feeds);
    const loss = await rt.readScalar(out.loss);
    for (const side of SIDES) {
      for (const level of [1, 2]) {
        const key = `${side}${level}`;
        const counts = (await rt.read(out[`live_${key}`])) as Float32Array;
        for (let i = 0; i < counts.length; i++) this.live[l][key][i] += counts[i];
      }
    }
    const hyper = adamwHyper(rt, { ...ADAMW_DEFAULTS, lr: plan.lr }, step);
    for (const [name, p] of this.params[l]) await adamwApply(rt, p, out[gradName(name)], hyper, 'weights');
    for (const t of Object.values(out)) rt.dispose(t);
    return loss;
  }

  /** Recall per layer on the held-out windows, the layers not trained counted dense. */
  async recall(evalWindows: number[][]): Promise<(number | null)[]> {
    const dp = DevicePredictors.wrap(this.rt, this.set, this.cfg, Array.from({ length: this.cfg.layers }, (_, l) => this.values(l)));
    const policy = this.plan.policy.map((p, l) => (this.trained.has(l) ? p : { kind: 'dense' as const }));
    try {
      return await predictorRecall(this.trainer, dp, evalWindows, policy);
    } finally {
      dp.freeLayout();
    }
  }

  /** Elastic size: removes the `prune` share of each hidden level's units, the most often zero; returns the parameter counts. */
  async prune(): Promise<{ before: number; after: number }> {
    const before = countParams(this.set);
    for (let l = 0; l < this.cfg.layers; l++) {
      if (!this.trained.has(l)) continue;
      for (const side of SIDES) {
        for (const level of [1, 2] as const) {
          const counts = this.live[l][`${side}${level}`];
          const n = counts.length;
          const drop = Math.floor(this.plan.prune * n);
          if (drop === 0) continue;
          // Most often zero first (fewest times above zero); ties by index.
          const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => counts[a] - counts[b] || a - b);
          const keep = order.slice(drop).sort((a, b) => a - b);
          await pruneUnits(this.rt, this.params[l], side, level, keep);
          this.set.config.layers[l][side][level === 1 ? 'r1' : 'r2'] = keep.length;
        }
      }
    }
    this.resetLive();
    return { before, after: countParams(this.set) };
  }

  /** Back to the host, then frees the device copies. */
  async download(): Promise<void> {
    const rt = this.rt;
    for (let l = 0; l < this.cfg.layers; l++) {
      for (const side of SIDES) {
        for (const part of PARTS) {
          const t = this.params[l].get(`${side}.${part}`)!;
          const data = Float32Array.from((await rt.read(t.value)) as Float32Array);
          const dims = [...t.value.dims];
          this.set.params.set(paramName(l, side, part), { shape: part.startsWith('b') ? [dims[1]] : dims, data });
        }
      }
      for (const p of this.params[l].values()) for (const t of [p.value, p.m, p.v]) rt.dispose(t);
    }
  }
}

export async function trainPredictors(
  trainer: Trainer, train: number[][], heldout: number[][], plan: PredictorTrainPlan, onProgress: (p: PredictorProgress) => void,
): Promise<PredictorSet> {
  checkBlock(plan.block, plan.ctx);
  checkLearningRate(plan.lr);
  if (!(plan.prune >= 0 && plan.prune < 1)) throw new UserError(`The pruned share must be in [0, 1), got ${plan.prune}.`);
  const trainWindows = windows(train, plan.ctx);
  const evalWindows = windows(heldout, plan.ctx).slice(0, plan.evalWindows);
  if (trainWindows.length === 0) throw new UserError(`No training document has ${plan.ctx} tokens; predictors need windows of the context they will run at.`);
  const t = new PredictorTraining(trainer, plan);
  await t.upload();
  const L = trainer.model.config.layers;
  const sampler = new WindowSampler(trainWindows, plan.seed);
  const pruneAt = plan.prune > 0 ? (plan.pruneAt ?? Math.floor(plan.steps / 2)) : -1;
  const history: { step: number; recall: (number | null)[]; mean: number }[] = [];
  for (let step = 1; step <= plan.steps; step++) {
    const t0 = performance.now();
    const layerLoss: (number | null)[] = Array(L).fill(null);
    await trainer.visitLayers(sampler.next(1), async (l, h, T) => {
      if (t.trained.has(l)) layerLoss[l] = await t.trainLayer(l, h, T, step);
    });
    const ls = layerLoss.filter((x): x is number => x !== null);
    onProgress({ type: 'step', step, steps: plan.steps, loss: ls.reduce((a, b) => a + b, 0) / ls.length, layerLoss, ms: performance.now() - t0 });
    if (step === pruneAt) {
      const p = await t.prune();
      onProgress({ type: 'prune', step, parametersBefore: p.before, parametersAfter: p.after });
    }
    if (evalWindows.length && ((plan.evalEvery > 0 && step % plan.evalEvery === 0) || step === plan.steps)) {
      const r = await t.recall(evalWindows);
      onProgress({ type: 'recall', step, recall: r, mean: meanRecall(r), windows: evalWindows.length });
      history.push({ step, recall: r, mean: meanRecall(r) });
    }
  }
  await t.download();
  t.set.config.training = { ...t.set.config.training, parameters: countParams(t.set), recall: history.at(-1)?.recall ?? null, recallHistory: history };
  return t.set;
}

/** Per window of one layer: the blocks the oracle keeps under the layer's policy, and the predictors' block scores. */
export interface LayerSamples {
  oracle: (number[] | null)[];
  predicted: Float64Array[];
}

/**
 * For every layer the policy does not keep dense, on the same layer input (the dense forward's)
 * of each window: the oracle's kept blocks and the predictors' scores.
 */
export async function layerSamples(trainer: Trainer, dp: DevicePredictors, windows: number[][], policy: LayerPolicy[]): Promise<Map<number, LayerSamples>> {
  const cfg = trainer.model.config;
  checkBlock(dp.block, windows[0]?.length ?? 0, "The predictors' block size");
  const out = new Map<number, LayerSamples>();
  for (const w of windows) {
    await trainer.visitLayers([w], async (l, h, T) => {
      if (policy[l].kind === 'dense') return;
      const nb = Math.ceil(T / dp.block);
      const s = out.get(l) ?? { oracle: [], predicted: [] };
      s.oracle.push(keptBlocks(columnScores(await oracleTiles(trainer, l, h, T, dp.block), nb), policy[l]));
      s.predicted.push(await dp.scores(l, h, T, normWeights(cfg, trainer.dm.floatWeights(l))));
      out.set(l, s);
    });
  }
  return out;
}

/** Mean recall over the windows of blocks the predictors keep under `policy` (their own policy, predictedPolicy). */
export function meanSampleRecall(s: LayerSamples, policy: LayerPolicy): number {
  return s.predicted.reduce((sum, p, i) => sum + recall(s.oracle[i], keptBlocks(p, policy)), 0) / s.predicted.length;
}

/**
 * Per layer, the mean over windows of the share of the oracle's kept blocks that the predictors
 * keep, both on the same layer input (the dense forward's); null for layers the policy keeps dense.
 */
export async function predictorRecall(trainer: Trainer, dp: DevicePredictors, evalWindows: number[][], policy: LayerPolicy[]): Promise<(number | null)[]> {
  const samples = await layerSamples(trainer, dp, evalWindows, policy);
  return policy.map((p, l) => {
    const s = samples.get(l);
    return s ? meanSampleRecall(s, predictedPolicy(p)) : null;
  });
}

/** (x − mean) / std, as the graph standardises the predicted scores. */
export function standardise(x: ArrayLike<number>): Float32Array {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i] / n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i] - mean) ** 2 / n;
  const sd = Math.sqrt(v + 1e-6);
  return Float32Array.from({ length: n }, (_, i) => (x[i] - mean) / sd);
}

function countParams(set: PredictorSet): number {
  const { embed } = set.config;
  const width = inputWidth(set.config);
  let n = 0;
  for (const sh of set.config.layers) {
    for (const side of SIDES) {
      const { r1, r2 } = sh[side];
      n += width * r1 + r1 + r1 * r2 + r2 + r2 * embed + embed;
    }
  }
  return n;
}

/** Keeps only the given hidden units of one level: the producing layer's columns and bias, the consuming layer's rows. */
async function pruneUnits(rt: Runtime, layer: Map<string, DeviceParam>, side: Side, level: 1 | 2, keep: number[]): Promise<void> {
  const producer = [`${side}.w${level}`, `${side}.b${level}`];
  const consumer = `${side}.w${level + 1}`;
  const cut = async (name: string, axis: 0 | 1) => {
    const p = layer.get(name)!;
    const [R, C] = p.value.dims as number[];
    for (const k of ['value', 'm', 'v'] as const) {
      const src = (await rt.read(p[k])) as Float32Array;
      const shape = axis === 1 ? [R, keep.length] : [keep.length, C];
      const dst = new Float32Array(shape[0] * shape[1]);
      if (axis === 1) for (let r = 0; r < R; r++) keep.forEach((c, j) => (dst[r * keep.length + j] = src[r * C + c]));
      else keep.forEach((r, j) => dst.set(src.subarray(r * C, (r + 1) * C), j * C));
      const t = await rt.upload(rt.tensor('float32', dst, shape));
      rt.dispose(p[k]);
      p[k] = t;
      rt.memory.track(t, k === 'value' ? 'weights' : 'optimizer');
    }
  };
  for (const name of producer) await cut(name, 1);
  await cut(consumer, 0);
}

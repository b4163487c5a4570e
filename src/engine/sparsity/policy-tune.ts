// Per-layer threshold tuning (LEMO.md 2, the paper's Algorithm 1 as issue 14 words it): on a
// few calibration windows of the frozen model, for each layer in turn, raise the elimination
// threshold (keep blocks scoring ≥ factor × the layer's mean block score) step by step while
// the measured loss stays within a bound; keep the last factor that did.
//
// Bounds: layer l may add at most `bound` × the dense loss L0 to the loss measured before it
// was tuned (the layers before it as tuned, it and the layers after it dense), so after n
// layers the loss is at most L0 × (1 + n·bound); `totalBound`, when set, also caps the loss at
// L0 × (1 + totalBound) for every layer, so early layers cannot spend what later ones need.
import { UserError } from '../errors';
import type { TokenSelector } from '../train/selection';
import type { Trainer } from '../train/trainer';
import { blockCount, blocksToRows } from './blocks';
import { columnScores, oracleTiles } from './oracle';
import { keptBlocks, type LayerPolicy } from './policy';

export interface TunePlan {
  /** Layers to tune, in this order; each starts dense (factor 0). */
  layers: number[];
  /** Tokens per block. */
  block: number;
  /** Factor increment between trials. */
  step: number;
  /** Largest factor tried. */
  max: number;
  /** Loss a layer may add, as a share of the dense loss. */
  bound: number;
  /** Cap on the loss over all layers, as a share of the dense loss above it (null: none). */
  totalBound: number | null;
  /** Policy of the layers not tuned (and the model's layer count). */
  start: LayerPolicy[];
}

export interface Trial {
  factor: number;
  /** Mean next-token loss over the calibration windows (nats). */
  loss: number;
  /** Share of the layer's tokens kept, over the calibration windows. */
  kept: number;
  /** True when the loss was that of an earlier trial with the same kept blocks (no forward ran). */
  reused: boolean;
}

export interface LayerTuning {
  layer: number;
  /** The largest factor tried whose loss stayed within the limit (0: none did). */
  factor: number;
  kept: number;
  loss: number;
  /** The loss before this layer was tuned, and the most it was allowed to reach. */
  reference: number;
  limit: number;
  trials: Trial[];
}

export interface TuneResult {
  denseLoss: number;
  /** Loss under the tuned policy. */
  loss: number;
  policy: LayerPolicy[];
  layers: LayerTuning[];
  /** Forward passes over the calibration windows. */
  forwards: number;
}

export type TuneProgress =
  | { type: 'dense'; loss: number }
  | { type: 'trial'; layer: number; trial: Trial; limit: number }
  | { type: 'layer'; tuning: LayerTuning };

/** K windows of ctx tokens spread evenly over the dataset's windows (all of them if fewer). */
export function calibrationWindows(all: number[][], count: number): number[][] {
  if (all.length === 0) throw new UserError('No document of the calibration data is as long as the context; use a shorter --ctx or longer documents.');
  const k = Math.min(count, all.length);
  return Array.from({ length: k }, (_, i) => all[Math.floor((i * all.length) / k)]);
}

/**
 * The loss over the calibration windows under a policy, through the trainer's own forward
 * (the sparse layer graphs the training step runs). The oracle's block scores of a layer depend
 * only on the policies of the layers before it, so they are computed once per such prefix.
 */
export class Calibration {
  private scores = new Map<string, Float64Array>();
  forwards = 0;

  constructor(readonly trainer: Trainer, readonly windows: number[][], readonly block: number) {}

  private key(w: number, layer: number, policy: LayerPolicy[]): string {
    return `${w}|${layer}|${JSON.stringify(policy.slice(0, layer))}`;
  }

  /** Mean next-token loss over the windows, every layer selecting its blocks by the oracle under `policy`. */
  async loss(policy: LayerPolicy[]): Promise<number> {
    let nll = 0;
    let tokens = 0;
    for (const [w, ids] of this.windows.entries()) {
      const r = await this.trainer.nll([ids], this.selector(w, policy));
      nll += r.nll;
      tokens += r.tokens;
    }
    this.forwards++;
    return nll / tokens;
  }

  /** The oracle's selection under `policy` for window w, its block scores cached per policy prefix. */
  private selector(w: number, policy: LayerPolicy[]): TokenSelector {
    return {
      mlpKeep: null,
      select: async (layer, h, T, probe) => {
        if (policy[layer].kind === 'dense') return null;
        const key = this.key(w, layer, policy);
        let s = this.scores.get(key);
        if (!s) this.scores.set(key, (s = columnScores(await oracleTiles(probe, layer, h, T, this.block), blockCount(T, this.block))));
        const kept = keptBlocks(s, policy[layer]);
        return kept ? blocksToRows(kept, this.block, T) : null;
      },
    };
  }

  /**
   * Per window, the blocks `layer` keeps under `policy` (null: all), from scores already
   * measured; undefined when some window's scores are not known yet.
   */
  keptSets(layer: number, policy: LayerPolicy[]): (number[] | null)[] | undefined {
    const out: (number[] | null)[] = [];
    for (let w = 0; w < this.windows.length; w++) {
      const s = this.scores.get(this.key(w, layer, policy));
      if (!s) return undefined;
      out.push(keptBlocks(s, policy[layer]));
    }
    return out;
  }

  /** Share of the layer's tokens the kept sets keep over the windows. */
  keptShare(sets: (number[] | null)[]): number {
    let kept = 0;
    let total = 0;
    for (const [w, blocks] of sets.entries()) {
      const T = this.windows[w].length;
      kept += blocks ? blocksToRows(blocks, this.block, T).length : T;
      total += T;
    }
    return kept / total;
  }
}

/** Factors step, 2·step, … up to max, rounded so 0.1 + 0.2 prints as 0.3. */
export function factorSteps(step: number, max: number): number[] {
  if (!(step > 0)) throw new UserError(`The threshold step must be positive, got ${step}.`);
  if (!(max >= step)) throw new UserError(`The largest threshold factor (${max}) must be at least one step (${step}).`);
  const n = Math.floor(max / step + 1e-9);
  return Array.from({ length: n }, (_, i) => Number(((i + 1) * step).toFixed(6)));
}

function checkPlan(plan: TunePlan, L: number): void {
  if (plan.start.length !== L) throw new UserError(`The starting policy lists ${plan.start.length} layers; the model has ${L}.`);
  if (!(plan.bound >= 0)) throw new UserError(`The loss bound must be ≥ 0, got ${plan.bound}.`);
  if (plan.totalBound !== null && !(plan.totalBound >= 0)) throw new UserError(`The total loss bound must be ≥ 0, got ${plan.totalBound}.`);
  for (const l of plan.layers) if (!Number.isInteger(l) || l < 0 || l >= L) throw new UserError(`Layer ${l} does not exist; this model has layers 0..${L - 1}.`);
  if (new Set(plan.layers).size !== plan.layers.length) throw new UserError('Each layer may be tuned once; --layers lists one twice.');
}

const DENSE_POLICY: LayerPolicy = { kind: 'dense' };

/** Layer l's factor (Algorithm 1): raised step by step while the loss stays within the limit; policy[l] is set to the result. */
async function tuneLayer(cal: Calibration, policy: LayerPolicy[], l: number, factors: number[], reference: number, limit: number, onProgress: (p: TuneProgress) => void): Promise<LayerTuning> {
  const trials: Trial[] = [];
  let best: Trial = { factor: 0, loss: reference, kept: 1, reused: true };
  let previous: { sets: string; loss: number } = { sets: '', loss: reference };
  for (const factor of factors) {
    const trial: LayerPolicy[] = policy.map((p, i) => (i === l ? { kind: 'threshold', factor } : p));
    let sets = cal.keptSets(l, trial);
    // Kept sets already measured (all dense, or those of the step before) reuse their loss.
    const known = sets && (sets.every((s) => s === null) ? { sets: 'dense', loss: reference } : JSON.stringify(sets) === previous.sets ? previous : undefined);
    const loss = known ? known.loss : await cal.loss(trial);
    sets ??= cal.keptSets(l, trial)!;
    const t: Trial = { factor, loss, kept: cal.keptShare(sets), reused: known !== undefined };
    trials.push(t);
    onProgress({ type: 'trial', layer: l, trial: t, limit });
    // Raise while within the limit (Algorithm 1): the first step past it ends the layer.
    if (!(loss <= limit)) break;
    best = t;
    previous = { sets: JSON.stringify(sets), loss };
    // One block left in every window: a larger factor changes nothing.
    if (sets.every((s) => s !== null && s.length === 1)) break;
  }
  // A factor that kept every block on every window is written dense: nothing showed it safe to drop any.
  policy[l] = best.kept < 1 ? { kind: 'threshold', factor: best.factor } : DENSE_POLICY;
  return { layer: l, factor: best.factor, kept: best.kept, loss: best.loss, reference, limit, trials };
}

/** Tunes the plan's layers in order on the calibration windows with a frozen-model trainer (LEMO.md 2, Algorithm 1). */
export async function tunePolicy(trainer: Trainer, windows: number[][], plan: TunePlan, onProgress: (p: TuneProgress) => void = () => {}): Promise<TuneResult> {
  const L = trainer.config.layers;
  checkPlan(plan, L);
  const factors = factorSteps(plan.step, plan.max);
  const cal = new Calibration(trainer, windows, plan.block);
  const denseLoss = await cal.loss(Array(L).fill(DENSE_POLICY));
  onProgress({ type: 'dense', loss: denseLoss });
  const policy = plan.start.map((p, l) => (plan.layers.includes(l) ? DENSE_POLICY : p));
  // The loss before the first tuned layer: dense, unless layers left untuned eliminate tokens.
  let reference = policy.some((p) => p.kind !== 'dense') ? await cal.loss(policy) : denseLoss;
  const cap = plan.totalBound === null ? Infinity : denseLoss * (1 + plan.totalBound);
  const tunings: LayerTuning[] = [];
  for (const l of plan.layers) {
    const tuning = await tuneLayer(cal, policy, l, factors, reference, Math.min(reference + plan.bound * denseLoss, cap), onProgress);
    tunings.push(tuning);
    onProgress({ type: 'layer', tuning });
    reference = tuning.loss;
  }
  return { denseLoss, loss: reference, policy, layers: tunings, forwards: cal.forwards };
}

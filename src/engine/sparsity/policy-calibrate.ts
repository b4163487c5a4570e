// Calibrating a threshold policy to the predictors (`lemo policy calibrate`): the predictors'
// block scores spread differently from the oracle's, so the same multiple of the mean keeps a
// different share of blocks. Per threshold layer, the largest factor on the predictors' scores
// whose kept blocks hold, on average over the calibration windows, the wanted share of the
// blocks the oracle keeps under the layer's own threshold (the recall of LEMO.md 3).
import type { Trainer } from '../train/trainer';
import { keptBlocks, type LayerPolicy } from './policy';
import type { DevicePredictors } from './predictor';
import { layerSamples, meanSampleRecall, type LayerSamples } from './predictor-train';

export interface CalibratedLayer {
  layer: number;
  /** The layer's threshold on the oracle's scores, and the one found for the predictors'. */
  factor: number;
  predicted: number;
  /** Mean recall and shares of blocks kept by the predictors and by the oracle, on the calibration windows. */
  recall: number;
  kept: number;
  oracleKept: number;
}

/** The largest predicted factor tried (× the layer's own) and the search step. */
const SEARCH = { top: 2, step: 0.01 };

const share = (kept: number[] | null, n: number) => (kept ? kept.length : n) / n;

/** Mean recall and kept share of the predictors at one factor. */
function measure(s: LayerSamples, factor: number): { recall: number; kept: number } {
  const policy: LayerPolicy = { kind: 'threshold', factor };
  const kept = s.predicted.reduce((k, p) => k + share(keptBlocks(p, policy), p.length), 0) / s.predicted.length;
  return { recall: meanSampleRecall(s, policy), kept };
}

/** Recall falls as the factor rises (fewer blocks kept): the first factor from the top that reaches the target. */
function calibrateLayer(layer: number, factor: number, s: LayerSamples, target: number): CalibratedLayer {
  const oracleKept = s.oracle.reduce((a, o, i) => a + share(o, s.predicted[i].length), 0) / s.oracle.length;
  for (let f = Math.round((SEARCH.top * Math.max(factor, 1)) / SEARCH.step); f >= 0; f--) {
    const m = measure(s, f * SEARCH.step);
    if (m.recall >= target) return { layer, factor, predicted: Number((f * SEARCH.step).toFixed(2)), ...m, oracleKept };
  }
  return { layer, factor, predicted: 0, ...measure(s, 0), oracleKept };
}

/** The policy with each threshold layer's factor for the predictors, and what was measured. */
export async function calibratePredicted(trainer: Trainer, dp: DevicePredictors, windows: number[][], policy: LayerPolicy[], target: number): Promise<{ policy: LayerPolicy[]; layers: CalibratedLayer[] }> {
  const all = await layerSamples(trainer, dp, windows, policy.map((p) => (p.kind === 'threshold' ? p : { kind: 'dense' })));
  const layers = [...all.entries()].sort((a, b) => a[0] - b[0]).map(([l, s]) => calibrateLayer(l, (policy[l] as { factor: number }).factor, s, target));
  const calibrated = policy.map((p, l): LayerPolicy => {
    const c = layers.find((x) => x.layer === l);
    return c && p.kind === 'threshold' ? { kind: 'threshold', factor: p.factor, predicted: c.predicted } : p;
  });
  return { policy: calibrated, layers };
}

// Which blocks a layer keeps (LEMO.md 2): dense, the top share of blocks by score, or the
// blocks whose score reaches a multiple of the layer's mean block score.
import { UserError } from '../errors';

/**
 * A threshold layer may carry `predicted`: the factor the predictors' scores are held to, set by
 * `lemo policy calibrate` so the predictors keep the oracle's blocks (their scores spread
 * differently from the oracle's, so one factor keeps different shares of the two).
 */
export type LayerPolicy = { kind: 'dense' } | { kind: 'ratio'; keep: number } | { kind: 'threshold'; factor: number; predicted?: number };

/** The paper artifact's default: the first half of the layers and the last layer dense, the others keep 40% of blocks. */
export function artifactPolicy(layers: number, keep = 0.4): LayerPolicy[] {
  return Array.from({ length: layers }, (_, l) => (l < layers / 2 || l === layers - 1 ? { kind: 'dense' } : { kind: 'ratio', keep }));
}

/** A per-layer list: null (dense), a number in (0, 1] (keep ratio) or {"threshold": x}. */
export function parsePolicy(json: unknown, layers: number): LayerPolicy[] {
  if (!Array.isArray(json) || json.length !== layers) throw new UserError(`The keep policy must list one entry per layer (${layers}).`);
  return json.map((e, l) => {
    if (e === null) return { kind: 'dense' };
    if (typeof e === 'number') {
      if (!(e > 0 && e <= 1)) throw new UserError(`Layer ${l}: a keep ratio must be in (0, 1], got ${e}.`);
      return { kind: 'ratio', keep: e };
    }
    const { threshold: t, predicted: p } = (e ?? {}) as { threshold?: unknown; predicted?: unknown };
    const factor = (x: unknown) => typeof x === 'number' && x >= 0;
    if (factor(t) && (p === undefined || factor(p))) return { kind: 'threshold', factor: t as number, ...(p === undefined ? {} : { predicted: p as number }) };
    throw new UserError(`Layer ${l}: expected null, a keep ratio, or {"threshold": x} (with "predicted": y for the predictors' scores).`);
  });
}

/** The policy the predictors' scores are held to: a threshold layer's calibrated factor when it has one. */
export function predictedPolicy(p: LayerPolicy): LayerPolicy {
  return p.kind === 'threshold' && p.predicted !== undefined ? { kind: 'threshold', factor: p.predicted } : p;
}

/** Kept block indices (ascending) from block scores. */
export function keptBlocks(scores: ArrayLike<number>, policy: LayerPolicy): number[] | null {
  const n = scores.length;
  if (policy.kind === 'dense') return null;
  let kept: number[];
  if (policy.kind === 'ratio') {
    const k = Math.max(1, Math.ceil(policy.keep * n));
    if (k >= n) return null;
    kept = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b).slice(0, k);
  } else {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += scores[i] / n;
    kept = Array.from({ length: n }, (_, i) => i).filter((i) => scores[i] >= policy.factor * mean);
    if (kept.length === 0) kept = [Array.from({ length: n }, (_, i) => i).reduce((a, b) => (scores[b] > scores[a] ? b : a), 0)];
    if (kept.length === n) return null;
  }
  return kept.sort((a, b) => a - b);
}

// Which blocks a layer keeps (LEMO.md 2): dense, the top share of blocks by score, or the
// blocks whose score reaches a multiple of the layer's mean block score.
import { UserError } from '../errors';

export type LayerPolicy = { kind: 'dense' } | { kind: 'ratio'; keep: number } | { kind: 'threshold'; factor: number };

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
    const t = (e as { threshold?: unknown })?.threshold;
    if (typeof t === 'number' && t >= 0) return { kind: 'threshold', factor: t };
    throw new UserError(`Layer ${l}: expected null, a keep ratio, or {"threshold": x}.`);
  });
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

// The training loss smoothed as TensorBoard does: an exponential moving average whose start is
// debiased (the first points are not pulled toward zero).

/** EMA of `values` with weight `alpha` on the past (0: the values themselves; below 1). */
export function ema(values: readonly number[], alpha: number): number[] {
  if (!(alpha > 0)) return [...values];
  const a = Math.min(alpha, 0.999);
  let acc = 0;
  let weight = 0;
  return values.map((v) => {
    acc = a * acc + (1 - a) * v;
    weight = a * weight + (1 - a);
    return acc / weight;
  });
}

/** [step, value] points with their values smoothed. */
export function emaPoints(points: readonly (readonly [number, number])[], alpha: number): [number, number][] {
  const s = ema(points.map((p) => p[1]), alpha);
  return points.map((p, i) => [p[0], s[i]]);
}

/** The y domain and ticks of a log axis over these values (positive ones): n ticks evenly spaced in log. */
export function logAxis(values: readonly number[], n = 5): { domain: [number, number]; ticks: number[] } | null {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  if (!pos.length) return null;
  let lo = Math.min(...pos);
  let hi = Math.max(...pos);
  if (hi / lo < 1.001) { lo /= 1.05; hi *= 1.05; }
  const [a, b] = [Math.log(lo), Math.log(hi)];
  return { domain: [lo, hi], ticks: Array.from({ length: n }, (_, i) => Math.exp(a + ((b - a) * i) / (n - 1))) };
}

// Rotary tables for given token positions, computed the way Hugging Face does in float32
// (inv_freq = 1/θ^(2i/D), divided by the linear factor or rescaled per band as Llama 3.1 does;
// angle = position·inv_freq; cat(f, f)), so long positions round exactly as the reference does.
import type { Llama3Rope, Rope, YarnRope } from './config';

const f = Math.fround;

/**
 * Llama 3.1's rescaling of one inverse frequency, by its wavelength 2π/inv_freq: short
 * wavelengths (under original / high_freq_factor) stay, long ones (over original /
 * low_freq_factor) are divided by the factor, and those between move smoothly from one to the
 * other, in proportion to original / wavelength. Each operation rounds to float32 as the reference's.
 */
export function llama3InvFreq(inv: number, s: Llama3Rope): number {
  const wavelen = f(f(2 * Math.PI) / inv);
  const factor = f(s.factor);
  if (wavelen < f(s.originalMaxPositions / s.highFreqFactor)) return inv;
  if (wavelen > f(s.originalMaxPositions / s.lowFreqFactor)) return f(inv / factor);
  const smooth = f(f(f(f(s.originalMaxPositions) / wavelen) - f(s.lowFreqFactor)) / f(s.highFreqFactor - s.lowFreqFactor));
  return f(f(f(f(1 - smooth) * inv) / factor) + f(smooth * inv));
}

/**
 * YaRN's inverse frequencies: each pair's unscaled frequency (extrapolation) and the one divided
 * by the factor (interpolation), blended by a linear ramp over the pairs between the dimensions
 * that turn beta_fast and beta_slow times over the pretraining context; float32 as the reference.
 */
export function yarnInvFrequencies(headDim: number, theta: number, y: YarnRope): Float32Array {
  const half = headDim / 2;
  const dimFor = (rotations: number) => (headDim * Math.log(y.originalMaxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = dimFor(y.betaFast);
  let high = dimFor(y.betaSlow);
  if (y.truncate) [low, high] = [Math.floor(low), Math.ceil(high)];
  [low, high] = [Math.max(low, 0), Math.min(high, headDim - 1)];
  if (low === high) high += 0.001;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const pos = f(theta ** f((2 * i) / headDim));
    const ramp = Math.min(Math.max(f(f(i - low) / f(high - low)), 0), 1);
    const extrapolation = f(1 - ramp);
    const interpolated = f(1 / f(f(y.factor) * pos));
    out[i] = f(f(interpolated * f(1 - extrapolation)) + f(f(1 / pos) * extrapolation));
  }
  return out;
}

/** The inverse frequencies, one per pair of channels. */
export function invFrequencies(headDim: number, rope: Rope): Float32Array {
  const half = headDim / 2;
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = f(f(1) / f(rope.theta ** f((2 * i) / headDim)));
  if (rope.yarn) invFreq.set(yarnInvFrequencies(headDim, rope.theta, rope.yarn));
  if (rope.llama3) for (let i = 0; i < half; i++) invFreq[i] = llama3InvFreq(invFreq[i], rope.llama3);
  if (rope.linearFactor !== 1) for (let i = 0; i < half; i++) invFreq[i] = f(invFreq[i] / f(rope.linearFactor));
  return invFreq;
}

export function ropeTables(positions: ArrayLike<number>, headDim: number, rope: Rope): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const invFreq = invFrequencies(headDim, rope);
  // YaRN scales cos and sin (float32 products, as the reference's).
  const scale = f(rope.yarn?.attentionFactor ?? 1);
  const at = (x: number) => (scale === 1 ? x : f(f(x) * scale));
  const T = positions.length;
  const cos = new Float32Array(T * headDim);
  const sin = new Float32Array(T * headDim);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const angle = f(f(positions[t]) * invFreq[i]);
      const c = at(Math.cos(angle));
      const s = at(Math.sin(angle));
      cos[t * headDim + i] = c;
      cos[t * headDim + i + half] = c;
      sin[t * headDim + i] = s;
      sin[t * headDim + i + half] = s;
    }
  }
  return { cos, sin };
}

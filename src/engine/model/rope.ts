// Rotary tables for given token positions, computed the way Hugging Face does in float32
// (inv_freq = 1/θ^(2i/D), divided by the linear factor or rescaled per band as Llama 3.1 does;
// angle = position·inv_freq; cat(f, f)), so long positions round exactly as the reference does.
import type { Llama3Rope, Rope } from './config';

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

/** The inverse frequencies, one per pair of channels. */
export function invFrequencies(headDim: number, rope: Rope): Float32Array {
  const half = headDim / 2;
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = f(f(1) / f(rope.theta ** f((2 * i) / headDim)));
  if (rope.llama3) for (let i = 0; i < half; i++) invFreq[i] = llama3InvFreq(invFreq[i], rope.llama3);
  if (rope.linearFactor !== 1) for (let i = 0; i < half; i++) invFreq[i] = f(invFreq[i] / f(rope.linearFactor));
  return invFreq;
}

export function ropeTables(positions: ArrayLike<number>, headDim: number, rope: Rope): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const invFreq = invFrequencies(headDim, rope);
  const T = positions.length;
  const cos = new Float32Array(T * headDim);
  const sin = new Float32Array(T * headDim);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const angle = f(f(positions[t]) * invFreq[i]);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[t * headDim + i] = c;
      cos[t * headDim + i + half] = c;
      sin[t * headDim + i] = s;
      sin[t * headDim + i + half] = s;
    }
  }
  return { cos, sin };
}

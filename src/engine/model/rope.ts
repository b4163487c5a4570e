// Rotary tables for given token positions, computed the way Hugging Face does in float32
// (inv_freq = 1/θ^(2i/D), divided by the linear factor; angle = position·inv_freq; cat(f, f)),
// so long positions round exactly as the reference does.
export function ropeTables(positions: ArrayLike<number>, headDim: number, theta: number, linearFactor: number): { cos: Float32Array; sin: Float32Array } {
  const f = Math.fround;
  const half = headDim / 2;
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = f(f(1) / f(theta ** f((2 * i) / headDim)));
  if (linearFactor !== 1) for (let i = 0; i < half; i++) invFreq[i] = f(invFreq[i] / f(linearFactor));
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

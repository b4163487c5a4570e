// Building blocks shared by the architectures. Shapes in trailing comments: B batch, T tokens,
// C hidden, H heads, D head dim, R LoRA rank.
import type { GraphBuilder, Value } from '../graph/builder';
import type { DType } from '../graph/ir';

export interface LinearSpec {
  /** Module path inside the layer, e.g. self_attn.q_proj; graph inputs are named after it. */
  name: string;
  in: number;
  out: number;
  bias: boolean;
  /** LoRA rank when the module is a LoRA target. */
  lora: { r: number; scale: number } | null;
}

/**
 * y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ. W is fed pre-transposed ([in, out]) so no weight is transposed per
 * step; A [R, in] and B [out, R] are fed in PEFT's layout so their gradients come out in it.
 */
export function linear(b: GraphBuilder, x: Value, spec: LinearSpec, dtype: DType): Value {
  const w = b.input(`${spec.name}.weight`, dtype, [spec.in, spec.out]);
  let y = b.matmul(x, w); // (B, T, out)
  if (spec.bias) y = b.add(y, b.input(`${spec.name}.bias`, dtype, [spec.out]));
  if (spec.lora) {
    const A = b.input(`${spec.name}.lora_A`, dtype, [spec.lora.r, spec.in]);
    const Bm = b.input(`${spec.name}.lora_B`, dtype, [spec.out, spec.lora.r]);
    const down = b.mul(b.matmul(x, b.t(A)), b.scalar(spec.lora.scale, dtype)); // (B, T, R)
    y = b.add(y, b.matmul(down, b.t(Bm)));
  }
  return y;
}

export function rmsNorm(b: GraphBuilder, x: Value, weightName: string, hidden: number, eps: number, dtype: DType): Value {
  const w = b.input(weightName, dtype, [hidden]);
  const ms = b.reduceMean(b.mul(x, x), [-1]); // (B, T, 1)
  const inv = b.reciprocal(b.sqrt(b.add(ms, b.scalar(eps, dtype))));
  return b.mul(b.mul(x, inv), w);
}

export function layerNorm(b: GraphBuilder, x: Value, prefix: string, hidden: number, eps: number, dtype: DType): Value {
  const w = b.input(`${prefix}.weight`, dtype, [hidden]);
  const bias = b.input(`${prefix}.bias`, dtype, [hidden]);
  const centred = b.sub(x, b.reduceMean(x, [-1]));
  const variance = b.reduceMean(b.mul(centred, centred), [-1]);
  const inv = b.reciprocal(b.sqrt(b.add(variance, b.scalar(eps, dtype))));
  return b.add(b.mul(b.mul(centred, inv), w), bias);
}

/** (B, T, N·D) → (B, N, T, D) */
export function splitHeads(b: GraphBuilder, x: Value, n: number, d: number): Value {
  return b.transpose(b.reshape(x, [0, 0, n, d]), [0, 2, 1, 3]);
}

/** (B, N, T, D) → (B, T, N·D) */
export function mergeHeads(b: GraphBuilder, x: Value, n: number, d: number): Value {
  return b.reshape(b.transpose(x, [0, 2, 1, 3]), [0, 0, n * d]);
}

/**
 * Rotary embedding in Hugging Face's convention: x·cos + rotate_half(x)·sin, where
 * rotate_half(x) = [−x₂, x₁] is a constant (D, D) matrix product (one MatMul, one gradient rule).
 * cos and sin are (T, D) inputs computed from each token's original position.
 */
export function rope(b: GraphBuilder, x: Value, cos: Value, sin: Value, d: number, dtype: DType): Value {
  const half = d / 2;
  const rot = new Float64Array(d * d);
  for (let i = 0; i < half; i++) {
    rot[(i + half) * d + i] = -1; // out[i] = −x[i+half]
    rot[i * d + i + half] = 1; // out[i+half] = x[i]
  }
  const R = b.constant(dtype, [d, d], dtype === 'float64' ? rot : Float32Array.from(rot), 'rotate_half');
  return b.add(b.mul(x, cos), b.mul(b.matmul(x, R), sin));
}

/**
 * Grouped-query attention: each KV head serves heads/kvHeads query heads, as HF's repeat_kv.
 * (B, KV, T, …rest) → (B, H, T, …rest); rest holds static trailing sizes (D, or b and D).
 */
export function repeatKv(b: GraphBuilder, x: Value, kvHeads: number, heads: number, ...rest: number[]): Value {
  const rep = heads / kvHeads;
  if (rep === 1) return x;
  const ones = x.shape.slice(2).map(() => 1);
  const expanded = b.expand(b.unsqueeze(x, [2]), [1, 1, rep, ...ones]); // (B, KV, rep, T, …rest)
  return b.reshape(expanded, [0, heads, -1, ...rest]);
}
export function silu(b: GraphBuilder, x: Value): Value {
  return b.mul(x, b.sigmoid(x));
}

/** GPT-2's gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) */
export function geluNew(b: GraphBuilder, x: Value, dtype: DType): Value {
  const cube = b.mul(b.mul(x, x), x);
  const inner = b.mul(b.add(x, b.mul(cube, b.scalar(0.044715, dtype))), b.scalar(Math.sqrt(2 / Math.PI), dtype));
  return b.mul(b.mul(x, b.scalar(0.5, dtype)), b.add(b.tanh(inner), b.scalar(1, dtype)));
}

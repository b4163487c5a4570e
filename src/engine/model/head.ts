// The LM head and the causal-LM loss over vocabulary chunks, so no (rows × vocabulary) logits
// and no transposed copy of the head exist: each chunk's rows W_k (N, C), vocab-major as in the
// file, meet the normed rows x once. Across chunks the graphs carry, per row, the running max m
// of the logits, the running sum s = Σ exp(z − m), the target's logit zt, and (for the
// backward) acc = Σ exp(z − m)·W_v and the target's row wt, rescaled when m grows (the online
// softmax). Then log p(target) = zt − m − log s and dL/dx = weight·(acc / s − wt) / count, exact.
import { GraphBuilder, type Value } from '../graph/builder';
import type { DType } from '../graph/ir';
import type { ModelConfig } from './config';
import { applyNorm, familyOf } from './families';

/** What the chunks carry per row: (B*S, 1) each; with the backward also (B*S, C) each. */
export const HEAD_STATS = ['m', 's', 'zt'];
export const HEAD_GRAD_STATS = ['acc', 'wt'];

/** The final norm at the segment's rows of h (B, T, C), flattened to (B*S, C). */
export function normRows(b: GraphBuilder, cfg: ModelConfig, dtype: DType): Value {
  const h = b.input('h', dtype, ['B', 'T', cfg.hidden]);
  const rows = b.op1('Gather', [h, b.input('rows', 'int64', ['S'])], { axis: 1 }); // (B, S, C)
  return b.op1('Flatten', [applyNorm(b, rows, familyOf(cfg).finalNorm, cfg, dtype)], { axis: 2 });
}

/**
 * Logits of a chunk: x (M, C) against its rows w (N, C) → (M, N), no stored transposed copy of w.
 * `viaTranspose`: as x · Transpose(w), a transient copy of the chunk (under WebGPU, where
 * onnxruntime's Gemm with transB runs at a third of its MatMul's speed: 12.2 ms against about 4 ms
 * for a 1,360 × 576 × 24,576 chunk on an H200); otherwise Gemm with transB (the CPU's fast path,
 * and no copy).
 */
export function chunkLogits(b: GraphBuilder, x: Value, w: Value, viaTranspose = false): Value {
  return viaTranspose ? b.matmul(x, b.transpose(w, [1, 0])) : b.op1('Gemm', [x, w], { transB: 1 });
}

/**
 * One vocabulary chunk: inputs h, rows (S), the final norm's weights, w (N, C) (the head's rows
 * [v0, v0 + N)), tidx (B, S) (each target's row in the chunk, any where it is not in it) and
 * tmask (B, S) (1 where it is); `first` starts the stats, otherwise they come in as `<name>_in`.
 * `grads` carries acc and wt too; `viaTranspose` as chunkLogits. Outputs the stats after this chunk.
 */
export function buildHeadChunk(cfg: ModelConfig, dtype: DType, first: boolean, grads: boolean, viaTranspose = false): GraphBuilder {
  const b = new GraphBuilder(`${cfg.family}_head_chunk`);
  const C = cfg.hidden;
  const x = normRows(b, cfg, dtype); // (M, C), M = B*S
  const w = b.input('w', dtype, ['N', C]);
  const tidx = b.reshape(b.input('tidx', 'int64', ['B', 'S']), [-1]);
  const tmask = b.reshape(b.input('tmask', dtype, ['B', 'S']), [-1, 1]);
  const prev = (n: string, width: number) => (first ? null : b.input(`${n}_in`, dtype, ['B*S', width]));
  const z = chunkLogits(b, x, w, viaTranspose); // (M, N)
  const zMax = b.op1('ReduceMax', [z, b.ints([-1])], { keepdims: 1 });
  const mIn = prev('m', 1);
  const m = mIn ? b.op1('Where', [b.op1('Greater', [mIn, zMax]), mIn, zMax]) : zMax;
  const scale = mIn ? b.exp(b.sub(mIn, m)) : null;
  const carry = (name: string, width: number, fresh: Value) => b.output(scale ? b.add(b.mul(prev(name, width)!, scale), fresh) : fresh, name);
  const added = (name: string, width: number, fresh: Value) => b.output(first ? fresh : b.add(prev(name, width)!, fresh), name);
  const e = b.exp(b.sub(z, m)); // (M, N)
  const target = b.op1('Gather', [w, tidx], { axis: 0 }); // (M, C)
  b.output(m, 'm');
  carry('s', 1, b.reduceSum(e, [-1], true));
  added('zt', 1, b.mul(b.reduceSum(b.mul(x, target), [-1], true), tmask));
  if (grads) {
    carry('acc', C, b.matmul(e, w));
    added('wt', C, b.mul(target, tmask));
  }
  return b;
}

/**
 * The segment's loss from the chunks' stats: inputs m, s, zt, weights (B, S) (1 where a position
 * counts), count (the whole batch's predicted tokens); loss = −Σ weight·log p(target) / count, so
 * the segments' losses add up to Hugging Face's mean. With `backward`, also h, rows, acc and wt,
 * and the output `head_dot` = Σ x·dL/dx, whose gradient for h is the loss's (dL/dx is made of
 * inputs only, so the final norm's backward is autodiff's).
 */
export function buildHeadLoss(cfg: ModelConfig, dtype: DType, backward: boolean): GraphBuilder {
  const b = new GraphBuilder(`${cfg.family}_head_loss`);
  const stat = (n: string, width = 1) => b.input(n, dtype, ['B*S', width]);
  const [m, s, zt] = HEAD_STATS.map((n) => stat(n));
  const weights = b.reshape(b.input('weights', dtype, ['B', 'S']), [-1, 1]);
  const count = b.input('count', dtype, []);
  const picked = b.sub(zt, b.add(m, b.op1('Log', [s]))); // (M, 1)
  b.output(b.div(b.neg(b.reduceSum(b.mul(picked, weights), [0, 1], false)), count), 'loss');
  if (!backward) return b;
  const [acc, wt] = HEAD_GRAD_STATS.map((n) => stat(n, cfg.hidden));
  const dx = b.div(b.mul(b.sub(b.div(acc, s), wt), weights), count); // (M, C)
  b.output(b.reduceSum(b.mul(normRows(b, cfg, dtype), dx), [0, 1], false), 'head_dot');
  return b;
}

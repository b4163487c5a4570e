// A decoder layer in three graphs, so attention can run by query segments and a layer can
// leave tokens out (LEMO.md 2):
//   pre      h (B, T, C) [→ kept rows] → norm → q (B, H, K, D), k, v (B, KV, K, D), RoPE at each
//            kept token's original position
//   segment  one query segment's causal attention over the keys before it, added into o
//   post     o → o_proj, added into the residual at the kept rows (eliminated rows pass through),
//            then the MLP on every token → out (B, T, C)
// Dense layers are the same graphs with every row kept (K = T) and no gather or scatter.
// Forward and backward come from these by autodiff; the segment backward recomputes the
// segment's attention instead of saving its probabilities.
import { GraphBuilder, type Value } from '../graph/builder';
import { scatterAddRows } from '../graph/ops/indexing';
import type { DType } from '../graph/ir';
import { geluNew, linear, mergeHeads, repeatKv, rope, silu, splitHeads } from './blocks';
import { specs } from './architecture';
import { applyNorm, familyOf } from './families';
import type { ModelConfig } from './config';
import type { LoraConfig } from './lora';

export interface PartSpec {
  cfg: ModelConfig;
  lora: LoraConfig | null;
  targeted: Set<string>;
  /** Whether the layer keeps a subset of rows (inputs `idx` (K) and gathers/scatters by it). */
  sparse: boolean;
  dtype: DType;
  /**
   * LEMO.md's MLP channel sparsity: the forward stays exact, but the backward flows through
   * (and saves) only this share of the intermediate channels, the largest by L2 norm. Null: exact.
   */
  mlpKeep?: number | null;
}

export function buildPre(p: PartSpec): GraphBuilder {
  const { cfg, dtype } = p;
  const b = new GraphBuilder(`${cfg.family}_pre${p.sparse ? '_sparse' : ''}`);
  const m = specs(cfg, p.lora, p.targeted);
  const { hidden: C, heads: H, kvHeads: KV, headDim: D } = cfg;
  const h = b.input('h', dtype, ['B', 'T', C]);
  const K = p.sparse ? 'K' : 'T';
  const rows = p.sparse ? b.op1('Gather', [h, b.input('idx', 'int64', ['K'])], { axis: 1 }) : h; // (B, K, C)
  let q: Value;
  let k: Value;
  let v: Value;
  const family = familyOf(cfg);
  if (family.fusedQkv) {
    const x = applyNorm(b, rows, family.inputNorm, cfg, dtype);
    const qkv = linear(b, x, m.get(family.fusedQkv)!, dtype); // (B, K, 3C)
    [q, k, v] = [0, 1, 2].map((i) => splitHeads(b, b.slice(qkv, 2, i * C, (i + 1) * C), H, D));
  } else {
    const cos = b.input('cos', dtype, [K, D]);
    const sin = b.input('sin', dtype, [K, D]);
    const x = applyNorm(b, rows, family.inputNorm, cfg, dtype);
    q = rope(b, splitHeads(b, linear(b, x, m.get('self_attn.q_proj')!, dtype), H, D), cos, sin, D, dtype);
    k = rope(b, splitHeads(b, linear(b, x, m.get('self_attn.k_proj')!, dtype), KV, D), cos, sin, D, dtype);
    v = splitHeads(b, linear(b, x, m.get('self_attn.v_proj')!, dtype), KV, D);
  }
  b.output(q, 'q');
  b.output(k, 'k');
  b.output(v, 'v');
  return b;
}

/**
 * Causal attention of the query rows `qrows` over the key rows `krows` (a prefix), masked by
 * original positions, added into o at the query rows. With `first`, o starts from zeros. With
 * `grouped` (shifted sparse attention), a query also sees only the keys of its own group, per
 * head: inputs qgrp (H, S) and kgrp (H, E) hold each row's group id under each query head.
 */
export function buildSegment(cfg: ModelConfig, dtype: DType, first: boolean, grouped = false): GraphBuilder {
  const b = new GraphBuilder(`${cfg.family}_segment${grouped ? '_s2' : ''}${first ? '_first' : ''}`);
  const { heads: H, kvHeads: KV, headDim: D } = cfg;
  const q = b.input('q', dtype, ['B', H, 'K', D]);
  const k = b.input('k', dtype, ['B', KV, 'K', D]);
  const v = b.input('v', dtype, ['B', KV, 'K', D]);
  const qrows = b.input('qrows', 'int64', ['S']);
  const krows = b.input('krows', 'int64', ['E']);
  const qpos = b.input('qpos', dtype, ['S']);
  const kpos = b.input('kpos', dtype, ['E']);
  const qs = b.op1('Gather', [q, qrows], { axis: 2 }); // (B, H, S, D)
  const ks = repeatKv(b, b.op1('Gather', [k, krows], { axis: 2 }), KV, H, D); // (B, H, E, D)
  const vs = repeatKv(b, b.op1('Gather', [v, krows], { axis: 2 }), KV, H, D);
  const future = b.op1('Greater', [b.unsqueeze(kpos, [0]), b.unsqueeze(qpos, [1])]); // (S, E)
  const blocked = b.scalar(-1e30, dtype);
  // Keys before a query are never in a later group, so "another group" is kgrp < qgrp.
  const inGroup = grouped
    ? b.op1('Where', [b.op1('Greater', [b.unsqueeze(b.input('qgrp', dtype, [H, 'S']), [2]), b.unsqueeze(b.input('kgrp', dtype, [H, 'E']), [1])]), blocked, b.scalar(0, dtype)]) // (H, S, E)
    : b.scalar(0, dtype);
  const mask = b.op1('Where', [future, blocked, inGroup]);
  const scores = b.add(b.mul(b.matmul(qs, b.t(ks)), b.scalar(1 / Math.sqrt(D), dtype)), mask); // (B, H, S, E)
  const o = b.matmul(b.softmax(scores, -1), vs); // (B, H, S, D)
  const acc = first ? b.mul(q, b.scalar(0, dtype)) : b.input('o_acc', dtype, ['B', H, 'K', D]);
  b.output(scatterAddRows(b, acc, qrows, o, 2), 'o');
  return b;
}

export function buildPost(p: PartSpec): GraphBuilder {
  const { cfg, dtype } = p;
  const b = new GraphBuilder(`${cfg.family}_post${p.sparse ? '_sparse' : ''}`);
  const m = specs(cfg, p.lora, p.targeted);
  const { hidden: C, heads: H, headDim: D } = cfg;
  const h = b.input('h', dtype, ['B', 'T', C]);
  const K = p.sparse ? 'K' : 'T';
  const o = b.input('o', dtype, ['B', H, K, D]);
  const family = familyOf(cfg);
  const attn = linear(b, mergeHeads(b, o, H, D), m.get(family.oProj)!, dtype); // (B, K, C)
  // The attention output is added at the kept rows in place; eliminated rows keep h.
  const h1 = p.sparse
    ? scatterAddRows(b, h, b.input('idx', 'int64', ['K']), attn, 1)
    : b.add(h, attn);
  const x = applyNorm(b, h1, family.postAttentionNorm, cfg, dtype);
  const mlp = p.mlpKeep ? channelSparseMlp(b, p, x, p.mlpKeep) : denseMlp(b, p, x);
  b.output(b.add(h1, mlp), 'out');
  return b;
}

/** The MLP of the family on normalised rows x (B, T, C). */
function denseMlp(b: GraphBuilder, p: PartSpec, x: Value): Value {
  const m = specs(p.cfg, p.lora, p.targeted);
  const { up, down, gate } = familyOf(p.cfg).mlp;
  if (!gate) return linear(b, geluNew(b, linear(b, x, m.get(up)!, p.dtype), p.dtype), m.get(down)!, p.dtype);
  const gated = b.mul(silu(b, linear(b, x, m.get(gate)!, p.dtype)), linear(b, x, m.get(up)!, p.dtype));
  return linear(b, gated, m.get(down)!, p.dtype);
}

/**
 * The exact MLP output, whose gradient flows only through the k intermediate channels with the
 * largest L2 norm over the batch: y = sg(full − y_k) + y_k, where y_k runs the MLP on the
 * kept channels' weight columns. The backward saves (B, T, k) tensors instead of (B, T, I).
 */
function channelSparseMlp(b: GraphBuilder, p: PartSpec, x: Value, keep: number): Value {
  const { cfg, dtype } = p;
  const { up, down, gate } = familyOf(cfg).mlp;
  const I = cfg.intermediate;
  const k = Math.max(1, Math.ceil(keep * I));
  const wUp = b.input(`${up}.weight`, dtype, [cfg.hidden, I]);
  const wDown = b.input(`${down}.weight`, dtype, [I, cfg.hidden]);
  let act: Value; // (B, T, I), exact
  let actOf: (idx: Value) => Value; // the same on the kept channels only
  if (!gate) {
    const bUp = b.input(`${up}.bias`, dtype, [I]);
    act = geluNew(b, b.add(b.matmul(x, wUp), bUp), dtype);
    actOf = (idx) => geluNew(b, b.add(b.matmul(x, b.op1('Gather', [wUp, idx], { axis: 1 })), b.op1('Gather', [bUp, idx], { axis: 0 })), dtype);
  } else {
    const wGate = b.input(`${gate}.weight`, dtype, [cfg.hidden, I]);
    act = b.mul(silu(b, b.matmul(x, wGate)), b.matmul(x, wUp));
    actOf = (idx) => b.mul(silu(b, b.matmul(x, b.op1('Gather', [wGate, idx], { axis: 1 }))), b.matmul(x, b.op1('Gather', [wUp, idx], { axis: 1 })));
  }
  let full = b.matmul(act, wDown);
  if (!gate) full = b.add(full, b.input(`${down}.bias`, dtype, [cfg.hidden]));
  const norms = b.reduceSum(b.mul(act, act), [0, 1], false); // (I)
  const idx = b.op('TopK', [b.op1('StopGradient', [norms]), b.ints([k])], { axis: 0 })[1]; // (k)
  const yk = b.matmul(actOf(idx), b.op1('Gather', [wDown, idx], { axis: 0 }));
  return b.add(b.op1('StopGradient', [b.sub(full, yk)]), yk);
}

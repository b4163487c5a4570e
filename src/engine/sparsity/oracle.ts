// The oracle's block scores (LEMO.md 2), by query segments so no T×T map exists at once:
// raw logits q·k/√D of earlier keys (i > j), ReLU per head, averaged over heads, max-pooled
// per b×b tile; the tile map is symmetrised (M + triu(Mᵀ, 1)) and summed per column.
import { GraphBuilder } from '../graph/builder';
import type { Graph } from '../graph/ir';
import type { ModelConfig } from '../model/config';
import { repeatKv } from '../model/blocks';
import type { Runtime, Tensor } from '../runtime/runtime';
import type { LayerProbe } from '../train/selection';

/**
 * Inputs q (B, H, T, D), k (B, KV, T, D), qrows/krows (NB, b) row indices, qpos/kpos (NB, b)
 * positions (padding rows: query −1, key +∞ so they mask out); output tiles (B, NBq, NBk).
 */
export function buildScoreGraph(cfg: ModelConfig, block: number): Graph {
  const b = new GraphBuilder(`${cfg.family}_block_scores_${block}`);
  const { heads: H, kvHeads: KV, headDim: D } = cfg;
  const q = b.input('q', 'float32', ['B', H, 'T', D]);
  const k = b.input('k', 'float32', ['B', KV, 'T', D]);
  const qrows = b.input('qrows', 'int64', ['NBq', block]);
  const krows = b.input('krows', 'int64', ['NBk', block]);
  const qpos = b.input('qpos', 'float32', ['NBq', block]);
  const kpos = b.input('kpos', 'float32', ['NBk', block]);
  const qb = b.unsqueeze(b.op1('Gather', [q, qrows], { axis: 2 }), [3]); // (B, H, NBq, 1, b, D)
  const kb = repeatKv(b, b.op1('Gather', [k, krows], { axis: 2 }), KV, H, block, D); // (B, H, NBk, b, D)
  const kt = b.unsqueeze(b.transpose(kb, [0, 1, 2, 4, 3]), [2]); // (B, H, 1, NBk, D, b)
  const logits = b.mul(b.matmul(qb, kt), b.scalar(1 / Math.sqrt(D), 'float32')); // (B, H, NBq, NBk, b, b)
  const perHead = b.reduceMean(b.op1('Relu', [logits]), [1], false); // (B, NBq, NBk, b, b)
  // Only keys strictly before the query count (the diagonal i = j is left out).
  const earlier = b.op1('Less', [b.unsqueeze(kpos, [0, 2]), b.unsqueeze(qpos, [1, 3])]); // (NBq, NBk, b, b)
  const masked = b.op1('Where', [earlier, perHead, b.scalar(0, 'float32')]);
  b.output(b.op1('ReduceMax', [masked, b.ints([3, 4])], { keepdims: 0 }), 'tiles');
  return b.build();
}

/** Row indices and positions of blocks [from, to), padded to whole blocks. */
function blockRows(positions: number[], block: number, from: number, to: number, pad: number) {
  const n = to - from;
  const rows = new BigInt64Array(n * block);
  const pos = new Float32Array(n * block);
  for (let j = 0; j < n; j++) {
    for (let t = 0; t < block; t++) {
      const r = (from + j) * block + t;
      const valid = r < positions.length;
      rows[j * block + t] = BigInt(valid ? r : positions.length - 1);
      pos[j * block + t] = valid ? positions[r] : pad;
    }
  }
  return { rows, pos, n };
}

/** Block scores of one layer from its q and k over all T tokens. */
export async function blockScores(rt: Runtime, graph: Graph, q: Tensor, k: Tensor, T: number, block: number, segmentRows: number): Promise<Float64Array> {
  return columnScores(await blockTiles(rt, graph, q, k, T, block, segmentRows), Math.ceil(T / block));
}

/** The b×b tile map of one layer (summed over the batch): tiles[m·NB + n] for query block m ≥ key block n. */
export async function blockTiles(rt: Runtime, graph: Graph, q: Tensor, k: Tensor, T: number, block: number, segmentRows: number): Promise<Float64Array> {
  const nb = Math.ceil(T / block);
  const positions = Array.from({ length: T }, (_, i) => i);
  const tiles = new Float64Array(nb * nb); // tiles[m * nb + n]: query block m, key block n
  const perSegment = Math.max(1, Math.floor(segmentRows / block));
  for (let m0 = 0; m0 < nb; m0 += perSegment) {
    const m1 = Math.min(nb, m0 + perSegment);
    const qr = blockRows(positions, block, m0, m1, -1);
    const kr = blockRows(positions, block, 0, m1, 1e30);
    const out = await rt.run(graph, {
      q, k,
      qrows: rt.tensor('int64', qr.rows, [qr.n, block]), krows: rt.tensor('int64', kr.rows, [kr.n, block]),
      qpos: rt.tensor('float32', qr.pos, [qr.n, block]), kpos: rt.tensor('float32', kr.pos, [kr.n, block]),
    });
    const data = (await rt.read(out.tiles)) as Float32Array;
    rt.dispose(out.tiles);
    const B = data.length / (qr.n * kr.n);
    for (let bi = 0; bi < B; bi++) {
      for (let i = 0; i < qr.n; i++) for (let j = 0; j < kr.n; j++) tiles[(m0 + i) * nb + j] += data[(bi * qr.n + i) * kr.n + j];
    }
  }
  return tiles;
}

/** Symmetrise the tile map (a block is credited as key and as query) and sum each column. */
export function columnScores(tiles: Float64Array, nb: number): Float64Array {
  const scores = new Float64Array(nb);
  for (let m = 0; m < nb; m++) {
    for (let n = 0; n < nb; n++) {
      const v = n <= m ? tiles[m * nb + n] : tiles[n * nb + m];
      scores[n] += v;
    }
  }
  return scores;
}

const scoreGraphs = new WeakMap<ModelConfig, Map<number, Graph>>();

/** The score graph of a model's blocks of `block` tokens, built once. */
function scoreGraph(cfg: ModelConfig, block: number): Graph {
  let byBlock = scoreGraphs.get(cfg);
  if (!byBlock) scoreGraphs.set(cfg, (byBlock = new Map()));
  let graph = byBlock.get(block);
  if (!graph) byBlock.set(block, (graph = buildScoreGraph(cfg, block)));
  return graph;
}

/** The oracle's tile map for one layer's input h: the step's q and k of that layer over every token, then the score graph. */
export async function oracleTiles(probe: LayerProbe, layer: number, h: Tensor, T: number, block: number): Promise<Float64Array> {
  const { q, k, release } = await probe.queryKeys(layer, h, T);
  try {
    // Under WebGPU one kernel scores every tile and the map is read back once.
    const kernels = await probe.rt.kernels();
    if (kernels?.supportsBlocks(block, probe.config.headDim)) return await kernels.blockTiles(q, k, block);
    return await blockTiles(probe.rt, scoreGraph(probe.config, block), q, k, T, block, probe.attentionRows(T));
  } finally {
    release();
  }
}

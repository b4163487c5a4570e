// How many rows each run of a segmented part takes: attention by query segments and the LM head
// by token segments and vocabulary chunks, so no (heads × T × T) or (T × vocabulary) tensor exists at once.
import { int64s } from '../graph/ir';
import type { ModelConfig } from '../model/config';
import type { Runtime, Tensor } from '../runtime/runtime';

/** Bytes one transient tensor of a segment may take by default. */
export const TRANSIENT_BUDGET = 16 * 2 ** 20;

/**
 * Bytes of a vocabulary chunk of the LM head's rows (float32): well under WebGPU's default
 * 128 MiB storage binding, and large, since each chunk is a session run per head segment.
 * A vocabulary that fits (every small model) is one chunk.
 */
export const HEAD_CHUNK_BYTES = 64 * 2 ** 20;

/**
 * Rows per chunk of a table of `rows` × `hidden` cut by rows: the fewest chunks whose float32 rows
 * take at most HEAD_CHUNK_BYTES and at most `limit` (the most one device buffer may hold), made even.
 * The LM head's vocabulary chunks and a split lookup table's stored chunks are cut alike.
 */
export function tableChunkRows(rows: number, hidden: number, limit: number): number {
  const count = Math.ceil(rows / Math.max(1, Math.floor(Math.min(HEAD_CHUNK_BYTES, limit) / (4 * hidden))));
  return Math.ceil(rows / count);
}

/** The largest multiple of 16 rows (at least 16) within `fits`, capped. */
function segmentSize(fits: number, cap: number): number {
  return Math.min(cap, Math.max(16, Math.floor(fits / 16) * 16));
}

/**
 * Query rows per attention segment and rows per LM-head segment. They bound the transients: by
 * default each (heads × segment × keys) or (segment × vocabulary) tensor stays under the
 * runtime's budget (or TRANSIENT_BUDGET); fixed numbers replace them.
 */
export interface SegmentRows {
  segmentRows?: number | null;
  headRows?: number | null;
  /** Vocabulary rows per LM-head chunk. */
  headChunkRows?: number | null;
}

export class Segments {
  constructor(private readonly rt: Runtime, private readonly cfg: ModelConfig, private readonly fixed: SegmentRows = {}) {}

  /** Bytes one transient tensor may take: the runtime's budget, or TRANSIENT_BUDGET, within one device buffer. */
  private get budget(): number {
    return Math.min(this.rt.transientBudget ?? TRANSIENT_BUDGET, this.rt.bufferLimit);
  }

  /** Segment caps grow with the budget (a larger budget is asked for to get fewer runs). */
  private get budgetScale(): number {
    return Math.max(1, Math.floor(this.budget / TRANSIENT_BUDGET));
  }

  /** Query rows per attention segment over K keys. */
  attentionRows(K: number): number {
    return this.fixed.segmentRows ?? segmentSize(this.budget / (4 * this.cfg.heads * K), 256 * this.budgetScale);
  }

  /** Rows per LM-head segment: its (segment × chunk) logits stay within the budget. */
  headRows(): number {
    return this.fixed.headRows ?? segmentSize(this.budget / (4 * this.headChunkRows()), 1024 * this.budgetScale);
  }

  /** Vocabulary rows per LM-head chunk: the fewest chunks of at most HEAD_CHUNK_BYTES (and one device buffer), made even. */
  headChunkRows(): number {
    const V = this.cfg.vocabSize;
    if (this.fixed.headChunkRows) return Math.min(V, this.fixed.headChunkRows);
    return tableChunkRows(V, this.cfg.hidden, this.rt.bufferLimit);
  }

  /** The LM head's vocabulary chunks [v0, v1). */
  headChunks(): [number, number][] {
    const V = this.cfg.vocabSize;
    const n = this.headChunkRows();
    return Array.from({ length: Math.ceil(V / n) }, (_, i): [number, number] => [i * n, Math.min(V, (i + 1) * n)]);
  }

  /** Query segments [start, end) over K rows. */
  attention(K: number): [number, number][] {
    const rows = this.attentionRows(K);
    const out: [number, number][] = [];
    for (let s = 0; s < K; s += rows) out.push([s, Math.min(K, s + rows)]);
    return out;
  }

  /**
   * Host inputs of one attention segment: query and key rows, and their positions. With a
   * group size (shifted sparse attention), each row's group id per query head as well, and the
   * keys start at the first one a query of the segment can see.
   */
  feeds(rows: number[], start: number, end: number, group: number | null = null): Record<string, Tensor> {
    const rt = this.rt;
    const range = (a: number, b: number) => int64s(b - a, (i) => a + i);
    const from = group ? firstVisibleKey(rows, start, group) : 0;
    const feeds: Record<string, Tensor> = {
      qrows: rt.tensor('int64', range(start, end), [end - start]),
      krows: rt.tensor('int64', range(from, end), [end - from]),
      qpos: rt.tensor('float32', Float32Array.from(rows.slice(start, end)), [end - start]),
      kpos: rt.tensor('float32', Float32Array.from(rows.slice(from, end)), [end - from]),
    };
    if (group) {
      const H = this.cfg.heads;
      feeds.qgrp = rt.tensor('float32', shiftedGroups(rows.slice(start, end), H, group), [H, end - start]);
      feeds.kgrp = rt.tensor('float32', shiftedGroups(rows.slice(from, end), H, group), [H, end - from]);
    }
    return feeds;
  }
}

/**
 * Group ids (H × positions, row-major) of shifted sparse attention: under the first half of the
 * query heads a token at original position p is in group ⌊p / G⌋, under the second half in
 * ⌊(p + G/2) / G⌋ (the first G/2 tokens form a group of their own; nothing wraps around).
 */
export function shiftedGroups(positions: number[], heads: number, group: number): Float32Array {
  const out = new Float32Array(heads * positions.length);
  for (let h = 0; h < heads; h++) {
    const shift = h < heads / 2 ? 0 : group / 2;
    positions.forEach((p, i) => (out[h * positions.length + i] = Math.floor((p + shift) / group)));
  }
  return out;
}

/** For each tile of `tile` query rows, the first row a query of it may see under shifted sparse attention. */
export function tileStarts(rows: number[], group: number, tile: number): Uint32Array {
  return Uint32Array.from({ length: Math.ceil(rows.length / tile) }, (_, t) => firstVisibleKey(rows, t * tile, group));
}

/** The first row (of ascending original positions) that a query from row `start` on may see under some head. */
function firstVisibleKey(rows: number[], start: number, group: number): number {
  const p = rows[start];
  const plain = Math.floor(p / group) * group;
  const shifted = Math.max(0, Math.floor((p + group / 2) / group) * group - group / 2);
  const lowest = Math.min(plain, shifted);
  let i = start;
  while (i > 0 && rows[i - 1] >= lowest) i--;
  return i;
}

// How many rows each run of a segmented part takes: attention by query segments and the LM head
// by token segments, so no (heads × T × T) or (T × vocabulary) tensor exists at once.
import type { ModelConfig } from '../model/config';
import type { Runtime, Tensor } from '../runtime/runtime';

/** Bytes one transient tensor of a segment may take by default. */
export const TRANSIENT_BUDGET = 16 * 2 ** 20;

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
}

export class Segments {
  constructor(private readonly rt: Runtime, private readonly cfg: ModelConfig, private readonly fixed: SegmentRows = {}) {}

  /** Bytes one transient tensor may take: the runtime's budget, or TRANSIENT_BUDGET. */
  private get budget(): number {
    return this.rt.transientBudget ?? TRANSIENT_BUDGET;
  }

  /** Segment caps grow with the budget (a larger budget is asked for to get fewer runs). */
  private get budgetScale(): number {
    return Math.max(1, Math.floor(this.budget / TRANSIENT_BUDGET));
  }

  /** Query rows per attention segment over K keys. */
  attentionRows(K: number): number {
    return this.fixed.segmentRows ?? segmentSize(this.budget / (4 * this.cfg.heads * K), 256 * this.budgetScale);
  }

  /** Rows per LM-head segment. */
  headRows(): number {
    return this.fixed.headRows ?? segmentSize(this.budget / (4 * this.cfg.vocabSize), 1024 * this.budgetScale);
  }

  /** Query segments [start, end) over K rows. */
  attention(K: number): [number, number][] {
    const rows = this.attentionRows(K);
    const out: [number, number][] = [];
    for (let s = 0; s < K; s += rows) out.push([s, Math.min(K, s + rows)]);
    return out;
  }

  /** Host inputs of one attention segment: query and key rows, and their positions. */
  feeds(rows: number[], start: number, end: number): Record<string, Tensor> {
    const rt = this.rt;
    const range = (a: number, b: number) => BigInt64Array.from({ length: b - a }, (_, i) => BigInt(a + i));
    return {
      qrows: rt.tensor('int64', range(start, end), [end - start]),
      krows: rt.tensor('int64', range(0, end), [end]),
      qpos: rt.tensor('float32', Float32Array.from(rows.slice(start, end)), [end - start]),
      kpos: rt.tensor('float32', Float32Array.from(rows.slice(0, end)), [end]),
    };
  }
}

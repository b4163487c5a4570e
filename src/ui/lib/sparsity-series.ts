// A sparsity event as per-layer rows (share of blocks eliminated, predictor recall) and as the
// cells of the layers × blocks map.
import type { SparsityEvent } from '../../engine/events';
import { toCsv } from './csv';

export interface LayerSparsity {
  layer: number;
  label: string;
  dense: boolean;
  keptBlocks: number;
  /** Share of the sequence's blocks left out of this layer's attention (0 for a dense layer). */
  eliminated: number;
  recall: number | null;
}

/** Rows of one step; `recall` (the latest measured, when the step did not measure it) fills in the event's. */
export function layerSparsity(e: SparsityEvent, recall?: readonly (number | null)[] | null): LayerSparsity[] {
  const r = e.recall ?? recall ?? null;
  return e.kept.map((kept, layer) => ({
    layer,
    label: `L${layer}`,
    dense: kept === null,
    keptBlocks: kept === null ? e.blocks : kept.length,
    eliminated: kept === null || e.blocks === 0 ? 0 : 1 - kept.length / e.blocks,
    recall: r?.[layer] ?? null,
  }));
}

/** Mean eliminated share over the layers that eliminate at all (NaN when none does). */
export function meanEliminated(rows: readonly LayerSparsity[]): number {
  const sparse = rows.filter((r) => !r.dense);
  return sparse.length ? sparse.reduce((a, r) => a + r.eliminated, 0) / sparse.length : NaN;
}

/** Mean recall over the layers that report one (NaN when none does). */
export function meanRecall(rows: readonly LayerSparsity[]): number {
  const with_ = rows.filter((r) => r.recall !== null);
  return with_.length ? with_.reduce((a, r) => a + r.recall!, 0) / with_.length : NaN;
}

export type CellState = 'kept' | 'eliminated' | 'dense';

/** Per layer, per block: kept, eliminated, or kept because the layer runs dense. */
export function cellStates(e: SparsityEvent): CellState[][] {
  return e.kept.map((kept) => {
    if (kept === null) return Array<CellState>(e.blocks).fill('dense');
    const set = new Set(kept);
    return Array.from({ length: e.blocks }, (_, j): CellState => (set.has(j) ? 'kept' : 'eliminated'));
  });
}

export function layersCsv(rows: readonly LayerSparsity[], step: number): string {
  return toCsv(['step', 'layer', 'dense', 'kept_blocks', 'eliminated_share', 'recall'], rows.map((r) => [step, r.layer, r.dense, r.keptBlocks, r.eliminated, r.recall]));
}

export function heatmapCsv(e: SparsityEvent): string {
  const states = cellStates(e);
  const rows = states.flatMap((row, layer) => row.map((s, j) => [e.step, layer, j, j * e.block, s, e.blockText[j] ?? '']));
  return toCsv(['step', 'layer', 'block', 'first_token', 'state', 'text'], rows);
}

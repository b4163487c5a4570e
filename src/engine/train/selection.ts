// How the step learns which tokens a layer keeps: a selector it is handed, of the type declared
// here. The step knows nothing of blocks, scores or predictors; a selector that needs the
// layer's q and k (the oracle) asks the step for them through the probe.
import type { ModelConfig } from '../model/config';
import type { Runtime, Tensor } from '../runtime/runtime';

/** What the step lends a selector at a layer: the layer's q and k over every token, on demand. */
export interface LayerProbe {
  readonly rt: Runtime;
  readonly config: ModelConfig;
  /** q (B, H, T, D) and k (B, KV, T, D) of the layer for its input h; release() frees them. */
  queryKeys(layer: number, h: Tensor, T: number): Promise<{ q: Tensor; k: Tensor; release(): void }>;
  /** Query rows per attention segment over T keys, within the transient budget. */
  attentionRows(T: number): number;
  /** The layer's frozen weights stored in float32, by name (its norms always among them). */
  layerWeights(layer: number): Record<string, Tensor>;
}

export interface TokenSelector {
  /** Share of MLP channels the backward keeps in token-eliminating layers; null: all. */
  readonly mlpKeep: number | null;
  /**
   * Shifted sparse attention (LongLoRA's S²-Attn) in training passes: tokens attend within groups
   * of this many original positions, half of the heads shifted by half a group. Absent or null:
   * full attention. Passes without a backward (evaluation) always attend fully.
   */
  readonly group?: number | null;
  /** Sorted token positions the layer keeps, or null to run it dense; asked for every layer in order. */
  select(layer: number, h: Tensor, T: number, probe: LayerProbe): Promise<number[] | null>;
}

/** Every token in every layer. */
export const DENSE: TokenSelector = { mlpKeep: null, select: async () => null };

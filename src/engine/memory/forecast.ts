// What a training step will hold, forecast from the model's shapes before anything runs, so a
// batch and context far beyond the memory are refused with a sentence instead of exhausting it.
import type { ModelConfig } from '../model/config';

/**
 * Bytes of activations a dense training step keeps for its backward: per token and layer, about
 * eight float32 values of the hidden width and four of the MLP's (within 10% of what the
 * accountant measures on the bundled Llamas). The step's transients come on top of this.
 */
export function savedActivationBytes(cfg: Pick<ModelConfig, 'layers' | 'hidden' | 'intermediate'>, tokens: number): number {
  return 4 * tokens * cfg.layers * (8 * cfg.hidden + 4 * cfg.intermediate);
}

// What the per-layer panels say when they have no selection to draw.
import type { PolicyFile } from '../../engine';
import type { StudioState } from '../store';

/** The model's policy.json in a line: how many layers eliminate, by what, at which block. */
export function policyText(p: PolicyFile): string {
  const sparse = p.policy.filter((e) => e !== null);
  const kind = sparse.every((e) => typeof e === 'object') ? 'thresholds' : sparse.every((e) => typeof e === 'number') ? 'keep ratios' : 'thresholds and keep ratios';
  const tuned = p.tuned ? `, tuned${p.ctx ? ` at ${p.ctx} tokens` : ''}` : '';
  const calibrated = p.calibrated ? `, calibrated to the predictors (recall ${Math.round(100 * p.calibrated.recall)}%)` : '';
  const mlp = p.mlpKeep ? `; the backward keeps ${Math.round(100 * p.mlpKeep)}% of the MLP channels in every layer` : '';
  return `policy.json: ${sparse.length} of ${p.policy.length} layers eliminate (${kind}), blocks of ${p.block}${tuned}${calibrated}${mlp}`;
}

export const DENSE_NOTE = 'dense run: every layer keeps every token';

export function sparsityNote(s: Pick<StudioState, 'runSettings' | 'sparsity' | 'run'>): string | null {
  if (s.sparsity) return null;
  if (!s.runSettings) return 'Which tokens each layer keeps appears here once a run starts.';
  if (s.runSettings.sparsity === 'dense') return DENSE_NOTE;
  if (s.run === 'running' || s.run === 'paused') return 'Token elimination is on: the first step’s selection appears here when it lands.';
  return 'No step of this run reported a selection.';
}

// What the per-layer panels say when they have no selection to draw.
import type { StudioState } from '../store';

export const DENSE_NOTE = 'dense run: every layer keeps every token';

export function sparsityNote(s: Pick<StudioState, 'runSettings' | 'sparsity' | 'run'>): string | null {
  if (s.sparsity) return null;
  if (!s.runSettings) return 'Which tokens each layer keeps appears here once a run starts.';
  if (s.runSettings.sparsity === 'dense') return DENSE_NOTE;
  if (s.run === 'running' || s.run === 'paused') return 'Token elimination is on: the first step’s selection appears here when it lands.';
  return 'No step of this run reported a selection.';
}

// The hovered block of the heat map: where it is, whether the layer kept it, and its text.
import type { SparsityEvent } from '../../engine/events';
import type { CellState } from '../lib/sparsity-series';

export interface Hover {
  layer: number;
  block: number;
  /** Pointer position inside the heat map's box, and the box's width. */
  x: number;
  y: number;
  width: number;
}

const STATE_TEXT: Record<CellState, string> = { kept: 'kept', eliminated: 'eliminated', dense: 'kept (dense layer)' };

export function BlockTooltip({ hover, event, state }: { hover: Hover; event: SparsityEvent; state: CellState | undefined }) {
  const { layer, block, x, y, width } = hover;
  const first = block * event.block;
  // Open towards the side with room.
  const side = x > width / 2 ? { right: width - x + 12 } : { left: x + 12 };
  return (
    <div className="tip block-tip" style={{ top: y + 12, ...side }} data-testid="heatmap-tooltip" data-export="skip">
      <div className="tip-head">
        layer {layer} · block {block} (tokens {first}–{first + event.block - 1}) · <strong className={`state-${state}`}>{state ? STATE_TEXT[state] : ''}</strong>
      </div>
      <pre data-testid="heatmap-tooltip-text">{event.blockText[block] ?? ''}</pre>
    </div>
  );
}

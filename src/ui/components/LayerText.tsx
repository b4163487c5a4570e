// The sequence's text as one layer saw it: kept blocks as they are, eliminated ones greyed.
import type { SparsityEvent } from '../../engine/events';
import type { CellState } from '../lib/sparsity-series';

export function LayerText({ event, layer, states }: { event: SparsityEvent; layer: number; states: CellState[] }) {
  const kept = states.filter((s) => s !== 'eliminated').length;
  return (
    <div className="layer-text" data-testid="layer-text" data-layer={layer}>
      <div className="small muted">
        Layer {layer} {event.kept[layer] === null ? 'runs dense' : `kept ${kept} of ${event.blocks} blocks`} (click a layer's label to switch):
      </div>
      <p>
        {event.blockText.map((t, j) => (
          <span key={j} className={`seg ${states[j] ?? ''}`} title={`block ${j}`}>{t}</span>
        ))}
      </p>
    </div>
  );
}

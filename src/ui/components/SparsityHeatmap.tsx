// Layers × blocks of the latest step's sequence: which blocks each layer kept. Hovering a cell
// shows the block's text; clicking a layer shows the whole sequence as that layer saw it.
import { useMemo, useRef, useState, type MouseEvent } from 'react';
import { useStudio } from '../store';
import { cellStates, heatmapCsv } from '../lib/sparsity-series';
import { sparsityNote } from '../lib/sparsity-note';
import { ChartCard } from './ChartCard';
import { EmptyPanel } from './EmptyPanel';
import { BlockTooltip, type Hover } from './BlockTooltip';
import { LayerText } from './LayerText';

export function SparsityHeatmap() {
  const sparsity = useStudio((s) => s.sparsity);
  const note = useStudio(sparsityNote);
  const states = useMemo(() => (sparsity ? cellStates(sparsity) : []), [sparsity]);
  const [hover, setHover] = useState<Hover | null>(null);
  const [picked, setPicked] = useState<number | null>(null);
  const wrap = useRef<HTMLDivElement>(null);
  const firstSparse = sparsity ? sparsity.kept.findIndex((k) => k !== null) : -1;
  const layer = picked !== null && picked < states.length ? picked : Math.max(0, firstSparse);

  const onMove = (e: MouseEvent<HTMLDivElement>) => {
    const cell = (e.target as HTMLElement).closest<HTMLElement>('[data-block]');
    const box = wrap.current?.getBoundingClientRect();
    if (!cell || !box) return setHover(null);
    setHover({ layer: Number(cell.dataset.layer), block: Number(cell.dataset.block), x: e.clientX - box.left, y: e.clientY - box.top, width: box.width });
  };

  const summary = sparsity ? `step ${sparsity.step} · ${sparsity.blocks} blocks of ${sparsity.block} tokens · hover a cell to read it` : '';
  return (
    <ChartCard title="Kept tokens: layers × blocks of the current sequence" id="sparsity-heatmap" className="wide" summary={summary} csv={sparsity ? () => heatmapCsv(sparsity) : null}>
      {sparsity ? (
        <>
          <div className="heatmap-wrap" ref={wrap} onMouseMove={onMove} onMouseLeave={() => setHover(null)}>
            <div className="heatmap" style={{ gridTemplateColumns: `72px repeat(${sparsity.blocks}, minmax(2px, 1fr))` }} data-testid="heatmap-grid">
              {states.map((row, l) => [
                <button key={`label-${l}`} type="button" className={`heatmap-label ${l === layer ? 'picked' : ''}`} onClick={() => setPicked(l)} title="Show the sequence as this layer saw it">
                  L{l}{sparsity.kept[l] === null ? ' dense' : ''}
                </button>,
                ...row.map((s, j) => <i key={`${l}-${j}`} className={`cell ${s}`} data-testid="heatmap-cell" data-layer={l} data-block={j} data-state={s} />),
              ])}
            </div>
            <div className="heatmap-axis"><span>token 0</span><span>token {sparsity.blocks * sparsity.block}</span></div>
            {hover && <BlockTooltip hover={hover} event={sparsity} state={states[hover.layer]?.[hover.block]} />}
          </div>
          <div className="heatmap-key small">
            <span><i className="cell kept" /> kept</span>
            <span><i className="cell eliminated" /> eliminated (left out of attention, nothing saved)</span>
            <span><i className="cell dense" /> dense layer (keeps every token)</span>
          </div>
          <LayerText event={sparsity} layer={layer} states={states[layer] ?? []} />
        </>
      ) : (
        <EmptyPanel testId="sparsity-heatmap-note">{note}</EmptyPanel>
      )}
    </ChartCard>
  );
}

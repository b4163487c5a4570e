// Per layer, the share of the sequence's blocks left out of attention at the latest step, and
// the predictors' recall where the run has predictors.
import { memo, useDeferredValue, useMemo } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useStudio } from '../store';
import { layerSparsity, layersCsv, meanEliminated, meanRecall, type LayerSparsity } from '../lib/sparsity-series';
import { sparsityNote } from '../lib/sparsity-note';
import { fmtPercent } from '../lib/format';
import { ChartCard } from './ChartCard';
import { EmptyPanel } from './EmptyPanel';

const ELIMINATED_COLOR = '#f97316';
const RECALL_COLOR = '#10b981';
const MARGIN = { top: 8, right: 16, bottom: 16, left: 0 };
const Y_DOMAIN: [number, number] = [0, 1];
const LEGEND_STYLE = { fontSize: 12 };
const share = (v: number) => fmtPercent(v);
const shareFine = (v: unknown) => fmtPercent(Number(v), 1);

const BarsPlot = memo(function BarsPlot({ rows, hasRecall }: { rows: LayerSparsity[]; hasRecall: boolean }) {
  return (
    <ResponsiveContainer width="100%" height={240}>
      <BarChart data={rows} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" vertical={false} />
        <XAxis dataKey="label" interval={0} fontSize={12} />
        <YAxis domain={Y_DOMAIN} width={52} tickFormatter={share} />
        <Tooltip formatter={shareFine} isAnimationActive={false} />
        <Legend verticalAlign="top" height={24} iconSize={10} wrapperStyle={LEGEND_STYLE} />
        <Bar dataKey="eliminated" name="blocks eliminated" fill={ELIMINATED_COLOR} isAnimationActive={false} />
        {hasRecall && <Bar dataKey="recall" name="predictor recall" fill={RECALL_COLOR} isAnimationActive={false} />}
      </BarChart>
    </ResponsiveContainer>
  );
});

export function SparsityBars() {
  const sparsity = useStudio((s) => s.sparsity);
  const recall = useStudio((s) => s.recall);
  const lemoRun = useStudio((s) => s.runSettings?.sparsity === 'lemo');
  const note = useStudio(sparsityNote);
  const rows = useMemo(() => (sparsity ? layerSparsity(sparsity, recall?.values) : []), [sparsity, recall]);
  const rowsLate = useDeferredValue(rows);
  const hasRecall = rows.some((r) => r.recall !== null);
  const mean = meanEliminated(rows);
  const recallMean = meanRecall(rows);
  const recallText = !lemoRun ? '' : recall && !Number.isNaN(recallMean)
    ? ` · predictor recall ${fmtPercent(recallMean)} (step ${recall.step})`
    : ' · predictor recall: not measured yet';
  const summary = sparsity ? `step ${sparsity.step} · ${Number.isNaN(mean) ? 'no layer eliminates' : `${fmtPercent(mean)} eliminated in sparse layers`}${recallText}` : '';
  return (
    <ChartCard title={lemoRun ? 'Tokens eliminated and predictor recall per layer' : 'Tokens eliminated per layer'} id="sparsity-bars" summary={summary} csv={sparsity ? () => layersCsv(rows, sparsity.step) : null}>
      <div className="plot">
        {sparsity ? (
          <>
            <BarsPlot rows={rowsLate} hasRecall={hasRecall} />
            <p className="small muted" data-testid="dense-layers">
              {rows.some((r) => r.dense) ? `dense layers (keep every token): ${rows.filter((r) => r.dense).map((r) => r.label).join(', ')}` : 'every layer eliminates'}
            </p>
          </>
        ) : (
          <EmptyPanel testId="sparsity-bars-note">{note}</EmptyPanel>
        )}
      </div>
      <ol className="sr-only" data-testid="sparsity-values">
        {rows.map((r) => (
          <li key={r.layer} data-layer={r.layer} data-dense={r.dense} data-kept={r.keptBlocks} data-eliminated={r.eliminated} data-recall={r.recall ?? ''}>
            layer {r.layer}: {fmtPercent(r.eliminated)} eliminated
          </li>
        ))}
      </ol>
    </ChartCard>
  );
}

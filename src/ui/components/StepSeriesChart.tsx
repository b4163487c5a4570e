// One number per optimizer step, as the engine reports it: the learning rate the update used
// (after the schedule) and the global norm of the LoRA gradients before it. Zoom by dragging.
import { memo, useDeferredValue, useMemo } from 'react';
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { StepEvent } from '../../engine/events';
import { useStudio } from '../store';
import { toCsv } from '../lib/csv';
import { axisWidth, fmtAxis } from '../lib/format';
import { ChartCard } from './ChartCard';
import { EmptyPanel } from './EmptyPanel';
import { inRange, useXZoom, ZoomProbe, ZoomReset, ZoomShade } from './ChartZoom';

interface Series {
  id: string;
  title: string;
  /** Legend and tooltip name, CSV column. */
  name: string;
  column: string;
  color: string;
  value: (s: StepEvent) => number | undefined;
  fmt: (v: number) => string;
  empty: string;
}

const MARGIN = { top: 8, right: 16, bottom: 16, left: 4 };
const X_LABEL = { value: 'step', position: 'insideBottom', offset: -8, fontSize: 12 } as const;
const X_DOMAIN: [number, string] = [1, 'dataMax'];
const Y_DOMAIN: [number | string, string] = ['auto', 'auto'];
const LR_DOMAIN: [number, string] = [0, 'auto'];
const stepLabel = (l: unknown) => `step ${String(l)}`;
const fmtSci = (v: number) => (v === 0 ? '0' : Math.abs(v) < 0.01 ? v.toExponential(1) : fmtAxis(v));

export const LR_SERIES: Series = {
  id: 'lr-chart', title: 'Learning rate', name: 'learning rate', column: 'lr', color: '#7c3aed',
  value: (s) => s.lr, fmt: (v) => (v !== 0 && Math.abs(v) < 0.001 ? v.toExponential(2) : v.toPrecision(3)), empty: 'The learning rate of each step, after the schedule and its warm-up, appears here once a run starts.',
};
export const GRAD_NORM_SERIES: Series = {
  id: 'grad-norm-chart', title: 'Gradient norm', name: 'gradient norm (LoRA, L2)', column: 'grad_norm', color: '#0891b2',
  value: (s) => s.gradNorm, fmt: (v) => v.toPrecision(4), empty: "The L2 norm of all the LoRA factors' gradients, before each update, appears here once a run starts.",
};

interface Point {
  step: number;
  v: number;
}

const SeriesPlot = memo(function SeriesPlot({ series, points, zoom }: { series: Series; points: Point[]; zoom: ReturnType<typeof useXZoom> }) {
  const value = useMemo(() => (v: unknown) => [series.fmt(Number(v)), series.name], [series]);
  return (
    <div className="zoomable" data-testid={`${series.id}-zoom-area`} title="drag across the chart to zoom; double-click to show everything" {...zoom.handlers}>
      <ResponsiveContainer width="100%" height={200}>
        <LineChart data={points} margin={MARGIN}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" />
          <XAxis dataKey="step" type="number" domain={zoom.zoom ?? X_DOMAIN} allowDataOverflow={!!zoom.zoom} allowDecimals={false} label={X_LABEL} />
          <YAxis domain={series.column === 'lr' ? LR_DOMAIN : Y_DOMAIN} width={axisWidth(6)} tickFormatter={fmtSci} />
          <Tooltip formatter={value} labelFormatter={stepLabel} isAnimationActive={false} />
          <Line type="linear" dataKey="v" name={series.name} stroke={series.color} strokeWidth={2} dot={points.length < 40} isAnimationActive={false} />
          <ZoomShade drag={zoom.drag} />
          <ZoomProbe probe={zoom.probe} />
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
});

export function StepSeriesChart({ series }: { series: Series }) {
  const steps = useStudio((s) => s.steps);
  const zoom = useXZoom(true);
  const points = useMemo(() => steps.flatMap((s) => {
    const v = series.value(s);
    return v !== undefined && Number.isFinite(v) ? [{ step: s.step, v }] : [];
  }), [steps, series]);
  const shown = useDeferredValue(useMemo(() => inRange(points, (p) => p.step, zoom.zoom), [points, zoom.zoom]));
  const last = points.at(-1);
  const csv = points.length ? () => toCsv(['step', series.column], points.map((p) => [p.step, p.v])) : null;
  return (
    <ChartCard title={series.title} id={series.id} csv={csv}
      summary={last ? <>step {last.step} · {series.name} <strong data-testid={`${series.id}-last`}>{series.fmt(last.v)}</strong></> : 'no steps yet'}
      controls={<ZoomReset zoom={zoom.zoom} reset={zoom.reset} unit="steps" testId={`${series.id}-zoom-reset`} />}>
      <div className="plot" data-zoom={zoom.zoom?.join('-') ?? ''} data-drawn-steps={shown.map((p) => p.step).join(' ')}>
        {points.length ? <SeriesPlot series={series} points={shown} zoom={zoom} /> : <EmptyPanel>{series.empty}</EmptyPanel>}
      </div>
      <ol className="sr-only" data-testid={`${series.id}-values`}>
        {points.map((p) => <li key={p.step} data-step={p.step} data-value={p.v}>{p.v}</li>)}
      </ol>
    </ChartCard>
  );
}

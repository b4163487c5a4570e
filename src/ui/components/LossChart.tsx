// The loss of every step and, where the run evaluated held-out text, the held-out loss (its
// perplexity in the summary and tooltip), with their CSV; hidden lists carry the numbers for tests.
import { memo, useDeferredValue, useMemo, useState } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { EvalEvent, StepEvent } from '../../engine/events';
import { useStudio } from '../store';
import { toCsv } from '../lib/csv';
import { axisWidth, fmtAxis } from '../lib/format';
import { ChartCard } from './ChartCard';
import { EmptyPanel } from './EmptyPanel';
import { comparing, LossCompare, useDrawnRuns } from './RunsCompare';
import { Toggle } from './Toggle';
import { ema, logAxis } from '../lib/smoothing';
import { inRange, useXZoom, ZoomProbe, ZoomReset, ZoomShade } from './ChartZoom';

const TRAIN_COLOR = '#2563eb';
const HELDOUT_COLOR = '#dc2626';
const MARGIN = { top: 8, right: 16, bottom: 16, left: 4 };
const X_LABEL = { value: 'step', position: 'insideBottom', offset: -8, fontSize: 12 } as const;
const X_DOMAIN: [number, string] = [1, 'dataMax'];
const Y_DOMAIN: [string, string] = ['auto', 'auto'];
const LEGEND_STYLE = { fontSize: 12 };

const TRAINING = 'training loss (nats/token)';
const HELDOUT = 'held-out loss';
const stepLabel = (l: unknown) => `step ${String(l)}`;
const value = (v: unknown, name: unknown) => {
  const x = Number(v);
  if (name === SMOOTHED) return [x.toFixed(4), SMOOTHED];
  return name === HELDOUT ? [`${x.toFixed(4)} (perplexity ${Math.exp(x).toFixed(1)})`, HELDOUT] : [x.toFixed(4), TRAINING];
};

interface Row {
  step: number;
  loss?: number;
  smooth?: number;
  heldout?: number;
}

/** Training (and its smoothed curve) and held-out losses by step, in one series of rows. */
function rowsOf(steps: readonly StepEvent[], evals: readonly EvalEvent[], alpha: number): Row[] {
  const by = new Map<number, Row>();
  const smooth = ema(steps.map((s) => s.loss), alpha);
  steps.forEach((s, i) => by.set(s.step, { step: s.step, loss: s.loss, ...(alpha > 0 ? { smooth: smooth[i] } : {}) }));
  for (const e of evals) by.set(e.step, { ...(by.get(e.step) ?? { step: e.step }), heldout: e.loss });
  return [...by.values()].sort((a, b) => a.step - b.step);
}

const SMOOTHED = 'training loss, smoothed';

type Zoom = ReturnType<typeof useXZoom>;

const LossPlot = memo(function LossPlot({ rows, hasEval, dots, smoothed, log, zoom }: { rows: Row[]; hasEval: boolean; dots: boolean; smoothed: boolean; log: boolean; zoom: Zoom }) {
  const logY = useMemo(() => (log ? logAxis(rows.flatMap((r) => [r.loss, r.heldout, r.smooth].filter((v): v is number => v !== undefined))) : null), [rows, log]);
  return (
    <div className="zoomable" data-testid="loss-zoom-area" title="drag across the chart to zoom; double-click to show everything" {...zoom.handlers}>
    <ResponsiveContainer width="100%" height={240}>
      <LineChart data={rows} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" />
        <XAxis dataKey="step" type="number" domain={zoom.zoom ?? X_DOMAIN} allowDataOverflow={!!zoom.zoom} allowDecimals={false} label={X_LABEL} />
        <YAxis domain={logY?.domain ?? Y_DOMAIN} ticks={logY?.ticks} scale={logY ? 'log' : 'auto'} allowDataOverflow={!!logY} width={axisWidth(5)} tickFormatter={fmtAxis} />
        <Tooltip formatter={value} labelFormatter={stepLabel} isAnimationActive={false} />
        <Legend verticalAlign="top" height={24} iconSize={10} wrapperStyle={LEGEND_STYLE} />
        <Line type="linear" dataKey="loss" name={TRAINING} stroke={TRAIN_COLOR} strokeOpacity={smoothed ? 0.25 : 1} dot={dots && !smoothed} isAnimationActive={false} connectNulls />
        {smoothed && <Line type="linear" dataKey="smooth" name={SMOOTHED} stroke={TRAIN_COLOR} strokeWidth={2} dot={false} isAnimationActive={false} connectNulls />}
        {hasEval && <Line type="linear" dataKey="heldout" name={HELDOUT} stroke={HELDOUT_COLOR} strokeWidth={2} dot connectNulls isAnimationActive={false} />}
        <ZoomShade drag={zoom.drag} />
        <ZoomProbe probe={zoom.probe} />
      </LineChart>
    </ResponsiveContainer>
    </div>
  );
});

export function LossChart() {
  const steps = useStudio((s) => s.steps);
  const evals = useStudio((s) => s.evals);
  const heldoutName = useStudio((s) => s.runHeldout);
  const [smoothing, setSmoothing] = useState(0);
  const [scale, setScale] = useState<'linear' | 'log'>('linear');
  const rows = useMemo(() => rowsOf(steps, evals, smoothing), [steps, evals, smoothing]);
  const zoom = useXZoom(true);
  const rowsLate = useDeferredValue(useMemo(() => inRange(rows, (r) => r.step, zoom.zoom), [rows, zoom.zoom]));
  const drawn = useDeferredValue(useDrawnRuns());
  const compare = comparing(drawn);
  const last = steps[steps.length - 1];
  const lastEval = evals[evals.length - 1];
  const csv = steps.length
    ? () => {
      const ev = new Map(evals.map((e) => [e.step, e]));
      return toCsv(
        ['step', 'loss', 'tokens', 'ms', 'tokens_per_second', 'heldout_loss', 'heldout_perplexity'],
        steps.map((s) => [s.step, s.loss, s.tokens, s.ms.toFixed(1), s.tokensPerSecond.toFixed(1), ev.get(s.step)?.loss ?? '', ev.get(s.step)?.perplexity ?? '']),
      );
    }
    : null;
  const summary = last ? (
    <>
      step {last.step} · loss {last.loss.toFixed(4)}
      {lastEval && <> · <span style={{ color: HELDOUT_COLOR }}>held-out perplexity <strong data-testid="heldout-perplexity">{lastEval.perplexity.toFixed(1)}</strong></span> at step {lastEval.step} (<span data-testid="heldout-source">{lastEval.tokens} tokens of {heldoutName}</span>)</>}
    </>
  ) : 'no steps yet';
  return (
    <ChartCard title="Loss" id="loss-chart" summary={summary} csv={csv} controls={(
      <>
        <label className="smoothing small" data-export="skip" title="exponential moving average of the training loss; the raw curve stays faint behind">
          smoothing <input type="range" min={0} max={0.95} step={0.05} value={smoothing} data-testid="loss-smoothing" onChange={(e) => setSmoothing(Number(e.target.value))} /> <span className="num">{smoothing.toFixed(2)}</span>
        </label>
        <Toggle<'linear' | 'log'> label="y axis" value={scale} onChange={setScale} options={[{ value: 'linear', label: 'linear' }, { value: 'log', label: 'log' }]} testId="loss-scale" />
        {!compare && <ZoomReset zoom={zoom.zoom} reset={zoom.reset} unit="steps" testId="loss-zoom-reset" />}
      </>
    )}>
      <div className="plot" data-scale={scale} data-smoothing={smoothing} data-zoom={zoom.zoom?.join('-') ?? ''} data-drawn-steps={rowsLate.filter((r) => r.loss !== undefined).map((r) => r.step).join(' ')}>
        {compare ? <LossCompare drawn={drawn} smoothing={smoothing} log={scale === 'log'} />
          : steps.length && drawn.length ? (
            <>
              <LossPlot rows={rowsLate} hasEval={evals.length > 0} dots={steps.length < 40} smoothed={smoothing > 0} log={scale === 'log'} zoom={zoom} />
              <ol className="sr-only" data-testid="loss-runs">
                {drawn.map((r) => <li key={r.id} data-run={r.id} data-name={r.name} data-color={r.color} data-steps={r.steps.length} data-evals={r.evals.length}>{r.name}</li>)}
              </ol>
            </>
          )
          : <EmptyPanel>{steps.length ? 'No run is checked in the Runs card.' : 'The loss of each step appears here once a run starts, with the held-out loss every few steps.'}</EmptyPanel>}
      </div>
      <ol className="sr-only" data-testid="loss-values">
        {steps.map((s) => <li key={s.step}>{s.loss}</li>)}
      </ol>
      <ol className="sr-only" data-testid="loss-smoothed">
        {smoothing > 0 && rows.map((r) => r.smooth !== undefined && <li key={r.step} data-step={r.step}>{r.smooth}</li>)}
      </ol>
      <ol className="sr-only" data-testid="eval-values">
        {evals.map((e) => <li key={e.step} data-step={e.step} data-loss={e.loss} data-perplexity={e.perplexity} data-tokens={e.tokens}>{e.perplexity}</li>)}
      </ol>
    </ChartCard>
  );
}

// The loss of every step, with its CSV; the hidden list carries the numbers for tests.
import { memo, useDeferredValue } from 'react';
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { StepEvent } from '../../engine/events';
import { useStudio } from '../store';
import { toCsv } from '../lib/csv';
import { ChartCard } from './ChartCard';
import { EmptyPanel } from './EmptyPanel';

const MARGIN = { top: 8, right: 16, bottom: 16, left: 0 };
const X_LABEL = { value: 'step', position: 'insideBottom', offset: -8, fontSize: 12 } as const;
const X_DOMAIN: [number, string] = [1, 'dataMax'];
const Y_DOMAIN: [string, string] = ['auto', 'auto'];
const yTick = (v: number) => v.toFixed(2);
const value = (v: unknown) => Number(v).toFixed(4);
const stepLabel = (l: unknown) => `step ${String(l)}`;

const LossPlot = memo(function LossPlot({ steps }: { steps: StepEvent[] }) {
  return (
    <ResponsiveContainer width="100%" height={240}>
      <LineChart data={steps} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" />
        <XAxis dataKey="step" type="number" domain={X_DOMAIN} allowDecimals={false} label={X_LABEL} />
        <YAxis domain={Y_DOMAIN} width={48} tickFormatter={yTick} />
        <Tooltip formatter={value} labelFormatter={stepLabel} isAnimationActive={false} />
        <Line type="linear" dataKey="loss" stroke="#2563eb" dot={steps.length < 40} isAnimationActive={false} />
      </LineChart>
    </ResponsiveContainer>
  );
});

export function LossChart() {
  const steps = useStudio((s) => s.steps);
  const stepsLate = useDeferredValue(steps);
  const last = steps[steps.length - 1];
  const csv = steps.length
    ? () => toCsv(['step', 'loss', 'tokens', 'ms', 'tokens_per_second'], steps.map((s) => [s.step, s.loss, s.tokens, s.ms.toFixed(1), s.tokensPerSecond.toFixed(1)]))
    : null;
  return (
    <ChartCard title="Training loss" id="loss-chart" summary={last ? `step ${last.step} · ${last.loss.toFixed(4)}` : 'no steps yet'} csv={csv}>
      <div className="plot">
        {steps.length ? <LossPlot steps={stepsLate} /> : <EmptyPanel>The loss of each step appears here once a run starts.</EmptyPanel>}
      </div>
      <ol className="sr-only" data-testid="loss-values">
        {steps.map((s) => <li key={s.step}>{s.loss}</li>)}
      </ol>
    </ChartCard>
  );
}

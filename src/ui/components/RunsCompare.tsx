// Kept runs overlaid: one line per checked run, in the run's colour, on the loss chart
// (training loss solid, held-out loss dashed) and the memory chart (peak per step). Hidden
// lists name the drawn series for tests.
import { memo, useMemo } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useStudio } from '../store';
import { drawnRuns, type DrawnRun } from '../lib/runs';
import { axisWidth, fmtAxis, fmtBytes } from '../lib/format';
import { emaPoints, logAxis } from '../lib/smoothing';

const MARGIN = { top: 8, right: 16, bottom: 16, left: 8 };
const X_LABEL = { value: 'step', position: 'insideBottom', offset: -8, fontSize: 12 } as const;
const LEGEND_STYLE = { fontSize: 12 };
/** MB with a decimal: runs' peaks can lie close together. */
const mbTick = (v: number) => (v / 1e6).toFixed(1);
const MB_LABEL = { value: 'MB', angle: -90, position: 'insideLeft', offset: 0, fontSize: 12 } as const;

/** The checked runs, the live one from the page's state. */
export function useDrawnRuns(): DrawnRun[] {
  const runs = useStudio((s) => s.runs);
  const currentRunId = useStudio((s) => s.currentRunId);
  const steps = useStudio((s) => s.steps);
  const evals = useStudio((s) => s.evals);
  const memory = useStudio((s) => s.memory);
  const memoryPeak = useStudio((s) => s.memoryPeak);
  return useMemo(() => drawnRuns(runs, currentRunId, { steps, evals, memory, memoryPeak }), [runs, currentRunId, steps, evals, memory, memoryPeak]);
}

/** Whether the charts compare runs: anything drawn besides the live run alone. */
export function comparing(drawn: readonly DrawnRun[]): boolean {
  return drawn.length > 1 || (drawn.length === 1 && !drawn[0].live);
}

type Row = Record<string, number>;

function rows(drawn: readonly DrawnRun[], pick: (r: DrawnRun) => [string, [number, number][]][]): Row[] {
  const by = new Map<number, Row>();
  for (const r of drawn) {
    for (const [key, points] of pick(r)) {
      for (const [step, v] of points) {
        const row = by.get(step) ?? { step };
        row[key] = v;
        by.set(step, row);
      }
    }
  }
  return [...by.values()].sort((a, b) => a.step - b.step);
}

const lossKey = (id: string) => `loss:${id}`;
const heldKey = (id: string) => `heldout:${id}`;
const rawKey = (id: string) => `raw:${id}`;
const memKey = (id: string) => `memory:${id}`;

export const LossCompare = memo(function LossCompare({ drawn, log, smoothing = 0 }: { drawn: DrawnRun[]; log?: boolean; smoothing?: number }) {
  // Smoothed, each run's raw curve stays faint behind its smoothed one.
  const data = useMemo(() => rows(drawn, (r) => [
    [lossKey(r.id), smoothing > 0 ? emaPoints(r.steps, smoothing) : r.steps],
    [rawKey(r.id), r.steps],
    [heldKey(r.id), r.evals.map(([s, l]) => [s, l] as [number, number])],
  ]), [drawn, smoothing]);
  const logY = useMemo(() => (log ? logAxis(drawn.flatMap((r) => [...r.steps.map((p) => p[1]), ...r.evals.map((e) => e[1])])) : null), [drawn, log]);
  const names = useMemo(() => new Map(drawn.flatMap((r) => [[lossKey(r.id), r.name], [rawKey(r.id), `${r.name}, raw`], [heldKey(r.id), `${r.name}, held-out`]])), [drawn]);
  // Held-out points show their perplexity beside the loss.
  const lossTip = useMemo(() => (v: unknown, key: unknown) => {
    const k = String(key);
    const x = Number(v);
    return [k.startsWith('heldout:') ? `${x.toFixed(4)} (perplexity ${Math.exp(x).toFixed(1)})` : x.toFixed(4), names.get(k) ?? k];
  }, [names]);
  return (
    <>
      <ResponsiveContainer width="100%" height={260}>
        <LineChart data={data} margin={MARGIN}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" />
          <XAxis dataKey="step" type="number" domain={[1, 'dataMax']} allowDecimals={false} label={X_LABEL} />
          <YAxis domain={logY?.domain ?? ['auto', 'auto']} ticks={logY?.ticks} allowDataOverflow={!!logY} width={axisWidth(5)} scale={logY ? 'log' : 'auto'} tickFormatter={fmtAxis} />
          <Tooltip formatter={lossTip} labelFormatter={(l: unknown) => `step ${String(l)}`} isAnimationActive={false} />
          <Legend verticalAlign="top" height={36} iconSize={10} wrapperStyle={LEGEND_STYLE} />
          {drawn.map((r) => (
            <Line key={r.id} type="linear" dataKey={lossKey(r.id)} name={r.name} stroke={r.color} dot={false} isAnimationActive={false} connectNulls />
          ))}
          {smoothing > 0 && drawn.map((r) => (
            <Line key={`r${r.id}`} type="linear" dataKey={rawKey(r.id)} name={`${r.name}, raw`} stroke={r.color} strokeOpacity={0.25} dot={false} legendType="none" isAnimationActive={false} connectNulls />
          ))}
          {drawn.filter((r) => r.evals.length).map((r) => (
            <Line key={`h${r.id}`} type="linear" dataKey={heldKey(r.id)} name={`${r.name}, held-out`} stroke={r.color} strokeDasharray="5 3" strokeWidth={2} dot legendType="none" isAnimationActive={false} connectNulls />
          ))}
        </LineChart>
      </ResponsiveContainer>
      <p className="small muted">solid: training loss; dashed with dots: held-out loss (nats/token).</p>
      <ol className="sr-only" data-testid="loss-runs">
        {drawn.map((r) => <li key={r.id} data-run={r.id} data-name={r.name} data-color={r.color} data-steps={r.steps.length} data-evals={r.evals.length}>{r.name}</li>)}
      </ol>
    </>
  );
});

export const MemoryCompare = memo(function MemoryCompare({ drawn }: { drawn: DrawnRun[] }) {
  const data = useMemo(() => rows(drawn, (r) => [[memKey(r.id), r.memory]]), [drawn]);
  const names = useMemo(() => new Map(drawn.map((r) => [memKey(r.id), r.name])), [drawn]);
  return (
    <>
      <ResponsiveContainer width="100%" height={280}>
        <LineChart data={data} margin={MARGIN}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" />
          <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} allowDecimals={false} label={X_LABEL} />
          <YAxis width={axisWidth(5) + 14} tickFormatter={mbTick} label={MB_LABEL} domain={['auto', 'auto']} />
          <Tooltip formatter={(v: unknown, key: unknown) => [fmtBytes(Number(v)), names.get(String(key)) ?? String(key)]} labelFormatter={(l: unknown) => `step ${String(l)}`} isAnimationActive={false} />
          <Legend verticalAlign="top" height={36} iconSize={10} wrapperStyle={LEGEND_STYLE} />
          {drawn.map((r) => (
            <Line key={r.id} type="stepAfter" dataKey={memKey(r.id)} name={r.name} stroke={r.color} strokeWidth={2} dot isAnimationActive={false} connectNulls />
          ))}
        </LineChart>
      </ResponsiveContainer>
      <p className="small muted">the highest accounted memory of each step, by run.</p>
      <ol className="sr-only" data-testid="memory-runs">
        {drawn.map((r) => <li key={r.id} data-run={r.id} data-name={r.name} data-peak={r.peak ?? ''} data-steps={r.memory.length}>{r.name}</li>)}
      </ol>
    </>
  );
});

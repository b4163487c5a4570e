// Memory over the run: the accountant's samples by kind (MemoryPlot), a legend with bytes now,
// at the peak and at the dense baseline's peak, and the per-step figures tests read.
import { useDeferredValue, useEffect, useMemo, useState } from 'react';
import { useStudio } from '../store';
import { downsample, memoryCsv, memoryPoints, perStep, stepStarts } from '../lib/memory-series';
import { fmtBytes, fmtChange } from '../lib/format';
import { ChartCard } from './ChartCard';
import { EmptyPanel } from './EmptyPanel';
import { MemoryLegend } from './MemoryLegend';
import { MemoryPlot, type MemoryAxis } from './MemoryPlot';
import { Toggle } from './Toggle';
import { comparing, MemoryCompare, useDrawnRuns } from './RunsCompare';
import { inRange, useXZoom, ZoomReset } from './ChartZoom';

/** Points drawn at most; the CSV keeps every sample. */
const MAX_POINTS = 400;

export function MemoryChart() {
  const memory = useStudio((s) => s.memory);
  const peak = useStudio((s) => s.memoryPeak);
  const baseline = useStudio((s) => s.baseline);
  const denseRun = useStudio((s) => s.runSettings?.sparsity === 'dense');
  const modelWeightBytes = useStudio((s) => s.model?.weightBytes ?? null);
  const [axis, setAxis] = useState<MemoryAxis>('time');
  const drawn = useDeferredValue(useDrawnRuns());
  const compare = comparing(drawn);
  const points = useMemo(() => memoryPoints(memory), [memory]);
  const steps = useMemo(() => perStep(points), [points]);
  const hasDevice = points.some((p) => p.device !== undefined);
  const provider = useStudio((s) => s.provider);
  const evaluated = useStudio((s) => s.evals.length > 0);
  const deviceLabel = provider === 'webgpu' ? 'GPU buffers (measured)' : 'WASM heap (measured)';
  // The plot renders from deferred values: React draws it in the background, interruptibly,
  // so input on the page is answered first.
  const pointsLate = useDeferredValue(points);
  const axisLate = useDeferredValue(axis);
  const zoom = useXZoom(axis === 'sample');
  const { reset } = zoom;
  useEffect(reset, [axis, reset]);
  // Zoomed, the samples of the range are drawn at full resolution (up to MAX_POINTS).
  const shown = useMemo(() => downsample(inRange(pointsLate, (p) => (axisLate === 'time' ? p.x : p.i), zoom.zoom), MAX_POINTS), [pointsLate, axisLate, zoom.zoom]);
  // A step begins where the previous one's last sample ends (areas are drawn step-before).
  // Boundaries are grid lines and ticks of a top axis, not one component per step.
  const boundaries = useMemo(() => {
    const xKey = axisLate === 'time' ? 'x' : 'i';
    const at = new Map<number, number>();
    for (const p of stepStarts(pointsLate)) at.set(pointsLate[Math.max(0, p.i - 1)][xKey], p.step);
    return at;
  }, [pointsLate, axisLate]);
  const summary = peak ? (
    <>
      peak <strong data-testid="memory-peak">{fmtBytes(peak.total)}</strong>
      {baseline && <> · dense baseline {fmtBytes(baseline.peakTotal)} (<span data-testid="memory-vs-dense">{fmtChange(peak.total, baseline.peakTotal)}</span>)</>}
    </>
  ) : 'no samples yet';
  return (
    <ChartCard
      title="Memory"
      id="memory-chart"
      className="wide"
      summary={summary}
      csv={points.length ? () => memoryCsv(points) : null}
      controls={compare ? null : (
        <>
          <Toggle<MemoryAxis> label="x axis" value={axis} onChange={setAxis} options={[{ value: 'time', label: 'seconds' }, { value: 'sample', label: 'runs' }]} testId="memory-axis" />
          <ZoomReset zoom={zoom.zoom} reset={zoom.reset} unit={axis === 'time' ? 's' : 'runs'} testId="memory-zoom-reset" />
        </>
      )}
    >
      <div className="memory-body" data-peak={peak?.total ?? ''} data-baseline={baseline?.peakTotal ?? ''}>
        <div className="plot" data-zoom={zoom.zoom?.join('-') ?? ''} data-drawn={shown.length}>
          {compare ? <MemoryCompare drawn={drawn} /> : points.length ? (
            <MemoryPlot points={shown} axis={axisLate} boundaries={boundaries} baseline={baseline?.peakTotal ?? null} hasDevice={hasDevice} deviceLabel={deviceLabel} zoom={zoom} />
          ) : (
            <EmptyPanel>Memory by kind appears here after the first step: the accountant samples it after every session run.</EmptyPanel>
          )}
          {evaluated && axis === 'time' && !compare && <p className="small muted" data-testid="memory-eval-note">Flat stretches after some steps are held-out evaluations, which are not sampled.</p>}
        </div>
        <MemoryLegend latest={points[points.length - 1] ?? null} storedMax={steps.reduce((m, s) => Math.max(m, s.storedMax), 0)} peak={peak} baseline={baseline} hasDevice={hasDevice} deviceLabel={deviceLabel} denseRun={denseRun} modelWeightBytes={modelWeightBytes} />
      </div>
      <ol className="sr-only" data-testid="memory-steps">
        {steps.map((s) => (
          <li key={s.step} data-step={s.step} data-samples={s.samples} data-weights={s.weights} data-activations-max={s.activationsMax}
            data-activations-end={s.activationsEnd} data-offloaded-max={s.offloadedMax} data-stored-max={s.storedMax} data-total-max={s.totalMax} data-device-max={s.deviceMax ?? ''}>
            step {s.step}: {s.samples} samples, peak {s.totalMax} bytes
          </li>
        ))}
      </ol>
    </ChartCard>
  );
}

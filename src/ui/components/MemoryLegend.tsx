// The memory chart's legend: each kind's colour and bytes now, at the run's peak and at the
// dense baseline's peak, and the two peaks side by side as stacked bars.
import type { ByKind } from '../../engine/events';
import type { Baseline } from '../store';
import type { MemoryPoint } from '../lib/memory-series';
import { BASELINE_COLOR, DEVICE_COLOR, KIND_COLOR, KIND_LABEL, MEMORY_KINDS, STORED_LABEL } from '../lib/kinds';
import { fmtBytes } from '../lib/format';

interface Props {
  latest: MemoryPoint | null;
  /** The most bytes disk offload kept in the browser's storage over the run (0: none). */
  storedMax: number;
  peak: { total: number; split: ByKind } | null;
  baseline: Baseline | null;
  hasDevice: boolean;
  deviceLabel: string;
  /** The run leaves no token out, so it has no separate dense baseline. */
  denseRun: boolean;
  /** The checkpoint's float32 weight bytes, to compare with what the engine holds. */
  modelWeightBytes: number | null;
}

function PeakBar({ label, split, total, scale, testId }: { label: string; split: ByKind; total: number; scale: number; testId: string }) {
  return (
    <div className="peakbar" data-testid={testId} data-total={total}>
      <span className="peakbar-label">{label}</span>
      <span className="peakbar-track" title={fmtBytes(total)}>
        {MEMORY_KINDS.map((k) => (
          <i key={k} style={{ width: `${(100 * split[k]) / scale}%`, background: KIND_COLOR[k] }} title={`${KIND_LABEL[k]}: ${fmtBytes(split[k])}`} />
        ))}
      </span>
      <span className="num">{fmtBytes(total)}</span>
    </div>
  );
}

export function MemoryLegend({ latest, storedMax, peak, baseline, hasDevice, deviceLabel, denseRun, modelWeightBytes }: Props) {
  const extraWeights = latest && modelWeightBytes ? latest.weights - modelWeightBytes : 0;
  const scale = Math.max(peak?.total ?? 0, baseline?.peakTotal ?? 0) || 1;
  const cell = (b: ByKind | null | undefined, k: keyof ByKind) => (b ? fmtBytes(b[k]) : '–');
  return (
    <div className="legend" data-testid="memory-legend">
      <table>
        <thead>
          <tr><th /><th className="num">now</th><th className="num">at peak</th><th className="num" style={{ color: BASELINE_COLOR }}>dense</th></tr>
        </thead>
        <tbody>
          {[...MEMORY_KINDS].reverse().map((k) => (
            <tr key={k} data-kind={k}>
              <td><i className="swatch" style={{ background: KIND_COLOR[k] }} />{KIND_LABEL[k]}</td>
              <td className="num">{cell(latest, k)}</td>
              <td className="num">{cell(peak?.split, k)}</td>
              <td className="num">{cell(baseline?.peakSplit, k)}</td>
            </tr>
          ))}
          <tr className="total">
            <td>total</td>
            <td className="num">{latest ? fmtBytes(latest.total) : '–'}</td>
            <td className="num">{peak ? fmtBytes(peak.total) : '–'}</td>
            <td className="num">{baseline ? fmtBytes(baseline.peakTotal) : '–'}</td>
          </tr>
          {storedMax > 0 && (
            <tr data-testid="stored-row"><td><i className="swatch" style={{ background: 'transparent', outline: `1px dashed ${KIND_COLOR.offloaded}` }} />{STORED_LABEL}</td><td className="num">{latest ? fmtBytes(latest.stored) : '–'}</td><td className="num" title="the most over the run">{fmtBytes(storedMax)}</td><td /></tr>
          )}
          {hasDevice && (
            <tr><td><i className="swatch line" style={{ background: DEVICE_COLOR }} />{deviceLabel}</td><td className="num">{latest?.device !== undefined ? fmtBytes(latest.device) : '–'}</td><td /><td /></tr>
          )}
        </tbody>
      </table>
      {peak && <PeakBar label="this run" split={peak.split} total={peak.total} scale={scale} testId="peak-run" />}
      {baseline && <PeakBar label="dense" split={baseline.peakSplit} total={baseline.peakTotal} scale={scale} testId="peak-baseline" />}
      {Math.abs(extraWeights) > 0.01 * (modelWeightBytes ?? 0) && (
        <p className="small muted" data-testid="weights-note">
          Weights held: {fmtBytes(latest?.weights ?? 0)}, the checkpoint's float32 weights {fmtBytes(modelWeightBytes ?? 0)} ({extraWeights > 0 ? '+' : ''}{fmtBytes(extraWeights)} held by the engine).
        </p>
      )}
      {baseline && <p className="small muted">dense baseline: {baseline.source}</p>}
      {hasDevice && deviceLabel.startsWith('WASM') && (
        <p className="small muted" data-testid="device-note">The WASM heap holds what a session run reads and writes while it runs; the weights and saved tensors wait in the engine worker’s JavaScript memory between runs, so it can stay below the total.</p>
      )}
      {!baseline && denseRun && peak && <p className="small muted">No separate dense baseline: this run is dense.</p>}
    </div>
  );
}

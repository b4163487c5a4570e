// The accountant's samples as chart rows: seconds since the run's first sample, bytes by kind,
// the total and the device's own figure; per-step summaries; CSV.
import type { ByKind, MemorySample } from '../../engine/events';
import { MEMORY_KINDS } from './kinds';
import { toCsv } from './csv';

export type StepSample = MemorySample & { step: number };

export interface MemoryPoint extends ByKind {
  /** Sample index in the run. */
  i: number;
  /** Seconds since the run's first sample. */
  x: number;
  step: number;
  phase: string;
  total: number;
  device?: number;
  /** Bytes disk offload kept in the browser's storage (not memory; 0 in samples of older runs). */
  stored: number;
}

export function total(b: ByKind): number {
  let s = 0;
  for (const k of MEMORY_KINDS) s += b[k] ?? 0;
  return s;
}

const ZERO = Object.fromEntries(MEMORY_KINDS.map((k) => [k, 0])) as ByKind;

export function memoryPoints(samples: readonly StepSample[]): MemoryPoint[] {
  const t0 = samples[0]?.t ?? 0;
  // Samples stored before a kind existed (an older run in the Runs card) read it as zero.
  return samples.map((m, i) => ({ i, x: (m.t - t0) / 1000, step: m.step, phase: m.phase, ...ZERO, ...m.bytes, total: total(m.bytes), device: m.device, stored: m.stored ?? 0 }));
}

/** At most `max` points, keeping the highest total of each bucket so peaks stay visible. */
export function downsample(points: MemoryPoint[], max: number): MemoryPoint[] {
  if (points.length <= max) return points;
  const size = Math.ceil(points.length / max);
  const out: MemoryPoint[] = [];
  for (let s = 0; s < points.length; s += size) {
    let best = points[s];
    for (let j = s + 1; j < Math.min(s + size, points.length); j++) if (points[j].total > best.total) best = points[j];
    out.push(best);
  }
  return out;
}

/** The first point of each step: where the chart marks step boundaries. */
export function stepStarts(points: readonly MemoryPoint[]): MemoryPoint[] {
  return points.filter((p, j) => j === 0 || points[j - 1].step !== p.step);
}

export interface StepMemory {
  step: number;
  samples: number;
  /** Frozen weights at the step's last sample. */
  weights: number;
  activationsMax: number;
  /** Saved activations at the step's last sample (after the optimizer: none should remain). */
  activationsEnd: number;
  /** Saved activations parked in host memory (offload), their high-water mark. */
  offloadedMax: number;
  /** Saved activations in the browser's storage (disk offload), their high-water mark. */
  storedMax: number;
  totalMax: number;
  deviceMax: number | null;
}

export function perStep(points: readonly MemoryPoint[]): StepMemory[] {
  const out: StepMemory[] = [];
  for (const p of points) {
    let s = out[out.length - 1];
    if (!s || s.step !== p.step) {
      s = { step: p.step, samples: 0, weights: 0, activationsMax: 0, activationsEnd: 0, offloadedMax: 0, storedMax: 0, totalMax: 0, deviceMax: null };
      out.push(s);
    }
    s.samples++;
    s.weights = p.weights;
    s.activationsEnd = p.activations;
    s.activationsMax = Math.max(s.activationsMax, p.activations);
    s.offloadedMax = Math.max(s.offloadedMax, p.offloaded);
    s.storedMax = Math.max(s.storedMax, p.stored);
    s.totalMax = Math.max(s.totalMax, p.total);
    if (p.device !== undefined) s.deviceMax = Math.max(s.deviceMax ?? 0, p.device);
  }
  return out;
}

export function memoryCsv(points: readonly MemoryPoint[]): string {
  return toCsv(
    ['sample', 'step', 'seconds', 'phase', ...MEMORY_KINDS.map((k) => `${k}_bytes`), 'total_bytes', 'device_bytes', 'stored_bytes'],
    points.map((p) => [p.i, p.step, p.x.toFixed(3), p.phase, ...MEMORY_KINDS.map((k) => p[k]), p.total, p.device, p.stored]),
  );
}

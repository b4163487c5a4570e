// The runs of the page, kept to compare: each run's settings and its chart series (losses,
// held-out evaluations, peak memory per step), never its weights. They stay in the browser's
// localStorage across reloads; a stored list that cannot be read is ignored, not fatal.
import { z } from 'zod';
import { trainSettingsSchema } from '../../engine/settings';

const settingsSchema = trainSettingsSchema.extend({
  provider: z.enum(['auto', 'wasm', 'webgpu', 'cpu']).catch('auto'),
  evalEvery: z.number(),
  evalChunks: z.number(),
});

const runSchema = z.object({
  id: z.string(),
  name: z.string(),
  model: z.string(),
  settings: settingsSchema,
  state: z.string(),
  /** [step, training loss] */
  steps: z.array(z.tuple([z.number(), z.number()])),
  /** [step, held-out loss, held-out perplexity] */
  evals: z.array(z.tuple([z.number(), z.number(), z.number()])),
  /** [step, highest accounted total of the step in bytes] */
  memory: z.array(z.tuple([z.number(), z.number()])),
  peak: z.number().nullable(),
  checked: z.boolean(),
  createdAt: z.number(),
});

export type RunRecord = z.infer<typeof runSchema>;

export const RUNS_KEY = 'lemo-studio-runs';
/** Runs kept at most; the oldest go first. */
export const MAX_RUNS = 30;

/** Colours of the runs on the charts, by the run's place in the list. */
export const RUN_COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#db2777', '#65a30d', '#4f46e5', '#a16207'];

export function runColor(runs: readonly RunRecord[], id: string): string {
  const i = runs.findIndex((r) => r.id === id);
  return RUN_COLORS[(i < 0 ? 0 : i) % RUN_COLORS.length];
}

/** The stored runs; none when storage is empty, unavailable or holds something else. */
export function parseRuns(text: string | null): RunRecord[] {
  if (!text) return [];
  try {
    const parsed = z.array(z.unknown()).safeParse(JSON.parse(text));
    if (!parsed.success) return [];
    // A run that no longer reads (an older format) is dropped; the others stay.
    return parsed.data.flatMap((r) => {
      const one = runSchema.safeParse(r);
      return one.success ? [one.data] : [];
    });
  } catch {
    return [];
  }
}

/** A run still "running" in storage was cut short by a reload or a crash. */
export function loadRuns(storage: Pick<Storage, 'getItem'> | null): RunRecord[] {
  let text: string | null = null;
  try {
    text = storage?.getItem(RUNS_KEY) ?? null;
  } catch {
    text = null;
  }
  return parseRuns(text).map((r) => (r.state === 'running' || r.state === 'paused' ? { ...r, state: 'interrupted' } : r));
}

/** Saves the runs; when storage is full the oldest runs are left out until they fit. */
export function saveRuns(storage: Pick<Storage, 'setItem'> | null, runs: readonly RunRecord[]): void {
  if (!storage) return;
  for (let from = Math.max(0, runs.length - MAX_RUNS); from <= runs.length; from++) {
    try {
      storage.setItem(RUNS_KEY, JSON.stringify(runs.slice(from)));
      return;
    } catch {
      // quota: try with fewer runs
    }
  }
}

/** A short name: number, mode, context and steps ("#2 dense · 256 tok · 3 steps"). */
export function runName(n: number, s: { sparsity: string; ctx: number; steps: number }, suffix = ''): string {
  return `#${n} ${s.sparsity} · ${s.ctx} tok · ${s.steps} steps${suffix}`;
}

/** The next run number: one above the highest in the list. */
export function nextRunNumber(runs: readonly RunRecord[]): number {
  let n = 0;
  for (const r of runs) {
    const m = /^#(\d+)/.exec(r.name);
    if (m) n = Math.max(n, Number(m[1]));
  }
  return n + 1;
}

interface Live {
  steps: readonly { step: number; loss: number }[];
  evals: readonly { step: number; loss: number; perplexity: number }[];
  memory: readonly { step: number; bytes: Record<string, number> }[];
  memoryPeak: { total: number } | null;
}

/** Highest accounted total per step, in step order. */
export function memoryByStep(memory: Live['memory']): [number, number][] {
  const by = new Map<number, number>();
  for (const m of memory) {
    let t = 0;
    for (const v of Object.values(m.bytes)) t += v;
    by.set(m.step, Math.max(by.get(m.step) ?? 0, t));
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]);
}

/** The run's series from the page's live state. */
export function seriesOf(live: Live): Pick<RunRecord, 'steps' | 'evals' | 'memory' | 'peak'> {
  return {
    steps: live.steps.map((s) => [s.step, s.loss]),
    evals: live.evals.map((e) => [e.step, e.loss, e.perplexity]),
    memory: memoryByStep(live.memory),
    peak: live.memoryPeak?.total ?? null,
  };
}

/** The last training loss of a run, or null before its first step. */
export function finalLoss(r: Pick<RunRecord, 'steps'>): number | null {
  return r.steps.length ? r.steps[r.steps.length - 1][1] : null;
}

/** A run as the charts draw it. */
export interface DrawnRun extends Pick<RunRecord, 'id' | 'name' | 'steps' | 'evals' | 'memory' | 'peak'> {
  color: string;
  live: boolean;
}

/**
 * The checked runs, each with its colour; the run going (or just ended) takes its series from the
 * page's live state, the others from their records.
 */
export function drawnRuns(runs: readonly RunRecord[], currentRunId: string | null, live: Live): DrawnRun[] {
  return runs.flatMap((r) => {
    if (!r.checked) return [];
    const isLive = r.id === currentRunId;
    const series = isLive ? seriesOf(live) : r;
    return [{ id: r.id, name: r.name, color: runColor(runs, r.id), live: isLive, steps: series.steps, evals: series.evals, memory: series.memory, peak: series.peak }];
  });
}

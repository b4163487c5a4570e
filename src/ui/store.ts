// The page's state, fed only by engine events and the user's settings. Slices: engine
// (provider, model, data), run (status, progress), metrics (per-step series), settings.
import { create } from 'zustand';
import type { BaselineEvent, ByKind, DatasetSummary, EngineEvent, EvalEvent, ModelSummary, SparsityEvent, StepEvent } from '../engine/events';
import type { Provider } from '../engine/runtime/runtime';
import { DEFAULT_SETTINGS, STUDIO_DEFAULTS, type TrainSettings } from '../engine/settings';
import { BUNDLED } from './lib/bundled';
import type { ProviderChoice } from '../worker/protocol';
import type { InterruptedRun } from '../worker/checkpoint-store';
import type { StepSample } from './lib/memory-series';
import { loadRuns, type RunRecord } from './lib/runs';
import type { ForecastAnswer } from './lib/forecast';

export type RunState = 'loading' | 'idle' | 'running' | 'paused' | 'stopped' | 'finished' | 'error';

export interface LoadedFile {
  name: string;
  bytes: number;
}

/** A text file of the data or the held-out set: its tokens once counted, and its first characters. */
export interface TextFileInfo extends LoadedFile {
  documents?: number;
  tokens?: number;
  preview: string;
}

/** The dense baseline's peak for the run's settings (a 'baseline' event). */
export type Baseline = Omit<BaselineEvent, 'type'>;

export type Settings = TrainSettings & {
  provider: ProviderChoice;
  /** Held-out perplexity every this many steps (0: never), on this many chunks of ctx tokens. */
  evalEvery: number;
  evalChunks: number;
};

/** Pattern predictors loaded into the engine (what lemo mode needs). */
export interface LoadedPredictors {
  name: string;
  bytes: number;
  /** Tokens per block the predictors were trained for. */
  block: number;
  parameters: number;
}


export interface StudioState {
  provider: Provider | null;
  providerReason: string;
  threads: number;
  model: (ModelSummary & { name: string }) | null;
  modelFiles: LoadedFile[];
  /** A model folder being read and loaded. */
  modelLoading: string | null;
  predictors: LoadedPredictors | null;
  /** Why lemo mode is unavailable, when no predictors are loaded. */
  predictorsNote: string;
  dataFiles: TextFileInfo[];
  /** The data files are the default data (not dropped ones). */
  dataDefault: boolean;
  /** Documents and tokens of the data files, counted when they load. */
  dataCount: { documents: number; tokens: number } | null;
  heldoutFiles: TextFileInfo[];
  /** The held-out files are the default held-out set (not a dropped one). */
  heldoutDefault: boolean;
  /** The held-out text the current (or last) run is evaluated on, named for the loss chart. */
  runHeldout: string;
  dataset: DatasetSummary | null;
  run: RunState;
  step: number;
  /** performance.now() of Start, and of the run's end (stopped, finished or failed). */
  startedAt: number | null;
  /** performance.now() when the engine began the first step (after reading the data and the dense baseline). */
  runningAt: number | null;
  endedAt: number | null;
  /** performance.now() when the run paused (null while it is not paused), and the time spent paused before. */
  pausedAt: number | null;
  pausedMs: number;
  /** A pause, resume or stop sent to the engine and not yet acknowledged by a status event. */
  pending: 'pause' | 'resume' | 'stop' | null;
  /** The settings the current (or last) run was started with. */
  runSettings: Settings | null;
  steps: StepEvent[];
  /** Held-out evaluations of the run. */
  evals: EvalEvent[];
  /** Accountant samples of the run, each tagged with its step. */
  memory: StepSample[];
  memoryPeak: { total: number; split: ByKind } | null;
  baseline: Baseline | null;
  /** The latest step's kept blocks per layer; null until one arrives (and in dense runs). */
  sparsity: SparsityEvent | null;
  /** The predictors' recall per layer at the latest step that measured it (lemo runs). */
  recall: { step: number; values: (number | null)[] } | null;
  error: string | null;
  log: string[];
  /** Steps skipped for a NaN or infinite loss, as sentences. */
  notices: string[];
  /** The run's latest checkpoint. */
  checkpoint: { step: number; bytes: number; ms: number } | null;
  /** A run that a reload, a crash or a lost GPU interrupted, which can be resumed. */
  interrupted: InterruptedRun | null;
  /** The engine was asked for an interrupted run since it started. */
  interruptedChecked: boolean;
  /** The runs kept to compare (this session's and earlier ones'), oldest first. */
  runs: RunRecord[];
  /** The run the live series belong to (its record's series are written when it ends). */
  currentRunId: string | null;
  settings: Settings;
  /** Why the page set the RoPE scale (the context passed the model's positions); null: the user's or the model's. */
  ropeNote: string | null;
  /**
   * The engine's latest memory forecast, with the settings, model and predictors it was asked for;
   * the card shows it only while they are the ones shown (lib/forecast.ts shownForecast).
   */
  forecast: ForecastAnswer | null;
  setSettings(patch: Partial<Settings>): void;
  /** Applies a batch of engine events in one update (one render). */
  onEvents(events: readonly EngineEvent[]): void;
  set(patch: Partial<StudioState>): void;
}

const ENDED = new Set<RunState>(['stopped', 'finished']);

/** Time paused is kept apart, so that elapsed time stops while the run is paused. */
export function pauseClock(s: Pick<StudioState, 'pausedAt' | 'pausedMs'>, state: RunState, now = performance.now()): Pick<StudioState, 'pausedAt' | 'pausedMs'> {
  if (state === 'paused') return { pausedAt: s.pausedAt ?? now, pausedMs: s.pausedMs };
  return { pausedAt: null, pausedMs: s.pausedMs + (s.pausedAt === null ? 0 : now - s.pausedAt) };
}

/** Milliseconds the run has trained (paused time left out), from its first step to its end or now. */
export function elapsedMs(s: Pick<StudioState, 'runningAt' | 'endedAt' | 'pausedAt' | 'pausedMs'>, now: number): number {
  if (s.runningAt === null) return NaN;
  return (s.endedAt ?? s.pausedAt ?? now) - s.runningAt - s.pausedMs;
}

/** What one engine event changes. */
export function applyEvent(s: StudioState, e: EngineEvent): Partial<StudioState> {
  switch (e.type) {
    case 'provider': return { provider: e.provider, providerReason: e.reason };
    case 'dataset': return { dataset: e.summary };
    case 'step': return { steps: [...s.steps, e], step: e.step };
    case 'eval': return { evals: [...s.evals, e] };
    case 'status': return {
      ...pauseClock(s, e.state),
      run: e.state, step: e.step, endedAt: ENDED.has(e.state) ? performance.now() : null, pending: null,
      runningAt: s.runningAt ?? (e.state === 'running' ? performance.now() : null),
    };
    case 'log': return { log: [...s.log.slice(-200), e.message] };
    case 'skipped': return { notices: [...s.notices, e.message], log: [...s.log.slice(-200), e.message] };
    case 'checkpoint': return { checkpoint: { step: e.step, bytes: e.bytes, ms: e.ms } };
    case 'resumed': return { steps: e.history, step: e.step, notices: e.skipped.map((k) => k.message) };
    case 'baseline': return { baseline: { peakTotal: e.peakTotal, peakSplit: e.peakSplit, source: e.source } };
    case 'sparsity': return e.recall ? { sparsity: e, recall: { step: e.step, values: e.recall } } : { sparsity: e };
    case 'memory':
      return {
        memory: [...s.memory, ...e.samples.map((m) => ({ ...m, step: e.step }))],
        memoryPeak: { total: e.peakTotal, split: e.peakSplit },
      };
  }
  return {};
}

export const useStudio = create<StudioState>()((set) => ({
  provider: null,
  providerReason: '',
  threads: 1,
  model: null,
  modelFiles: [],
  modelLoading: null,
  predictors: null,
  predictorsNote: 'none loaded yet',
  dataFiles: [],
  dataDefault: true,
  dataCount: null,
  heldoutFiles: [],
  heldoutDefault: true,
  runHeldout: '',
  dataset: null,
  run: 'loading',
  step: 0,
  startedAt: null,
  runningAt: null,
  endedAt: null,
  pausedAt: null,
  pausedMs: 0,
  runSettings: null,
  pending: null,
  steps: [],
  evals: [],
  memory: [],
  memoryPeak: null,
  baseline: null,
  sparsity: null,
  recall: null,
  error: null,
  log: [],
  notices: [],
  checkpoint: null,
  interrupted: null,
  interruptedChecked: false,
  runs: loadRuns(typeof localStorage === 'undefined' ? null : localStorage),
  currentRunId: null,
  settings: { ...DEFAULT_SETTINGS, ...STUDIO_DEFAULTS, ...BUNDLED.settings },
  ropeNote: null,
  forecast: null,
  setSettings: (patch) => set((s) => ({ settings: { ...s.settings, ...patch } })),
  set: (patch) => set(patch),
  onEvents: (events) => set((s) => events.reduce<StudioState>((cur, e) => ({ ...cur, ...applyEvent(cur, e) }), s)),
}));

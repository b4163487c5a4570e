// The page's state, fed only by engine events and the user's settings. Slices: engine
// (provider, model, data), run (status, progress), metrics (per-step series), settings.
import { create } from 'zustand';
import type { BaselineEvent, ByKind, DatasetSummary, EngineEvent, ModelSummary, SparsityEvent, StepEvent } from '../engine/events';
import type { Provider } from '../engine/runtime/runtime';
import { DEFAULT_SETTINGS, type TrainSettings } from '../engine/session';
import type { ProviderChoice } from '../worker/protocol';
import type { StepSample } from './lib/memory-series';

export type RunState = 'loading' | 'idle' | 'running' | 'paused' | 'stopped' | 'finished' | 'error';

export interface LoadedFile {
  name: string;
  bytes: number;
}

/** The dense baseline's peak for the run's settings (a 'baseline' event). */
export type Baseline = Omit<BaselineEvent, 'type'>;

export type Settings = TrainSettings & { provider: ProviderChoice };

export interface StudioState {
  provider: Provider | null;
  providerReason: string;
  threads: number;
  model: (ModelSummary & { name: string }) | null;
  modelFiles: LoadedFile[];
  dataFiles: LoadedFile[];
  dataset: DatasetSummary | null;
  run: RunState;
  step: number;
  /** performance.now() of Start, and of the run's end (stopped, finished or failed). */
  startedAt: number | null;
  endedAt: number | null;
  /** A pause, resume or stop sent to the engine and not yet acknowledged by a status event. */
  pending: 'pause' | 'resume' | 'stop' | null;
  /** The settings the current (or last) run was started with. */
  runSettings: Settings | null;
  steps: StepEvent[];
  /** Accountant samples of the run, each tagged with its step. */
  memory: StepSample[];
  memoryPeak: { total: number; split: ByKind } | null;
  baseline: Baseline | null;
  /** The latest step's kept blocks per layer; null until one arrives (and in dense runs). */
  sparsity: SparsityEvent | null;
  error: string | null;
  log: string[];
  settings: Settings;
  setSettings(patch: Partial<Settings>): void;
  /** Applies a batch of engine events in one update (one render). */
  onEvents(events: readonly EngineEvent[]): void;
  set(patch: Partial<StudioState>): void;
}

const ENDED = new Set<RunState>(['stopped', 'finished']);

/** What one engine event changes. */
export function applyEvent(s: StudioState, e: EngineEvent): Partial<StudioState> {
  switch (e.type) {
    case 'provider': return { provider: e.provider, providerReason: e.reason };
    case 'dataset': return { dataset: e.summary };
    case 'step': return { steps: [...s.steps, e], step: e.step };
    case 'status': return { run: e.state, step: e.step, endedAt: ENDED.has(e.state) ? performance.now() : null, pending: null };
    case 'log': return { log: [...s.log.slice(-200), e.message] };
    case 'baseline': return { baseline: { peakTotal: e.peakTotal, peakSplit: e.peakSplit, source: e.source } };
    case 'sparsity': return { sparsity: e };
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
  dataFiles: [],
  dataset: null,
  run: 'loading',
  step: 0,
  startedAt: null,
  endedAt: null,
  runSettings: null,
  pending: null,
  steps: [],
  memory: [],
  memoryPeak: null,
  baseline: null,
  sparsity: null,
  error: null,
  log: [],
  settings: { ...DEFAULT_SETTINGS, provider: 'auto' },
  setSettings: (patch) => set((s) => ({ settings: { ...s.settings, ...patch } })),
  set: (patch) => set(patch),
  onEvents: (events) => set((s) => events.reduce<StudioState>((cur, e) => ({ ...cur, ...applyEvent(cur, e) }), s)),
}));

// The page's state, fed only by engine events and the user's settings. Slices: engine
// (provider, model, data), run (status, progress), metrics (per-step series), settings.
import { create } from 'zustand';
import type { ByKind, DatasetSummary, EngineEvent, MemorySample, ModelSummary, StepEvent } from '../engine/events';
import type { Provider } from '../engine/runtime/runtime';
import { DEFAULT_SETTINGS, type TrainSettings } from '../engine/session';
import type { ProviderChoice } from '../worker/protocol';

export type RunState = 'loading' | 'idle' | 'running' | 'paused' | 'stopped' | 'finished' | 'error';

export interface LoadedFile {
  name: string;
  bytes: number;
}

export interface StudioState {
  provider: Provider | null;
  providerReason: string;
  threads: number;
  model: (ModelSummary & { name: string }) | null;
  dataFiles: LoadedFile[];
  dataset: DatasetSummary | null;
  run: RunState;
  step: number;
  startedAt: number | null;
  steps: StepEvent[];
  /** Accountant samples of the run, each tagged with its step. */
  memory: (MemorySample & { step: number })[];
  memoryPeak: { total: number; split: ByKind } | null;
  error: string | null;
  log: string[];
  settings: TrainSettings & { provider: ProviderChoice };
  setSettings(patch: Partial<StudioState['settings']>): void;
  onEvent(e: EngineEvent): void;
  set(patch: Partial<StudioState>): void;
}

export const useStudio = create<StudioState>()((set) => ({
  provider: null,
  providerReason: '',
  threads: 1,
  model: null,
  dataFiles: [],
  dataset: null,
  run: 'loading',
  step: 0,
  startedAt: null,
  steps: [],
  memory: [],
  memoryPeak: null,
  error: null,
  log: [],
  settings: { ...DEFAULT_SETTINGS, provider: 'auto' },
  setSettings: (patch) => set((s) => ({ settings: { ...s.settings, ...patch } })),
  set: (patch) => set(patch),
  onEvent: (e) =>
    set((s) => {
      switch (e.type) {
        case 'provider': return { provider: e.provider, providerReason: e.reason };
        case 'dataset': return { dataset: e.summary };
        case 'step': return { steps: [...s.steps, e], step: e.step };
        case 'status': return { run: e.state, step: e.step };
        case 'log': return { log: [...s.log.slice(-200), e.message] };
        case 'memory':
          return {
            memory: [...s.memory, ...e.samples.map((m) => ({ ...m, step: e.step }))],
            memoryPeak: { total: e.peakTotal, split: e.peakSplit },
          };
      }
      return {};
    }),
}));

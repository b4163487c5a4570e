// What the engine tells its shell (worker → UI, or CLI → stderr). Plain data, structured-cloneable.
import type { MemorySample, Provider } from './runtime/runtime';
import type { ByKind } from './memory/accountant';

export type { MemorySample, ByKind };

export interface ModelSummary {
  architecture: string;
  family: 'llama' | 'gpt2';
  parameters: number;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  vocabSize: number;
  maxPositions: number;
  weightBytes: number;
}

export interface DatasetSummary {
  documents: number;
  tokens: number;
  windows: number;
  ctx: number;
}

export interface StepEvent {
  type: 'step';
  step: number;
  totalSteps: number;
  loss: number;
  tokens: number;
  ms: number;
  tokensPerSecond: number;
}

/** The accountant over one step: a sample after every session run, and the peak so far. */
export interface MemoryEvent {
  type: 'memory';
  step: number;
  samples: MemorySample[];
  peakTotal: number;
  peakSplit: ByKind;
}

export type EngineEvent =
  | MemoryEvent
  | { type: 'provider'; provider: Provider; reason: string }
  | { type: 'dataset'; summary: DatasetSummary }
  | StepEvent
  | { type: 'status'; state: 'running' | 'paused' | 'stopped' | 'finished'; step: number }
  | { type: 'log'; message: string };

// What the engine tells its shell (worker → UI, or CLI → stderr). Plain data, structured-cloneable.
import type { Provider } from './runtime/runtime';

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

export type EngineEvent =
  | { type: 'provider'; provider: Provider; reason: string }
  | { type: 'dataset'; summary: DatasetSummary }
  | StepEvent
  | { type: 'status'; state: 'running' | 'paused' | 'stopped' | 'finished'; step: number }
  | { type: 'log'; message: string };

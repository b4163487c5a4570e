// What the engine tells its shell (worker → UI, or CLI → stderr). Plain data, structured-cloneable.
import type { MemorySample, Provider } from './runtime/runtime';
import type { ByKind } from './memory/accountant';
import type { Family } from './model/config';
import type { PolicyFile } from './sparsity/policy-file';

export type { MemorySample, ByKind };

export interface ModelSummary {
  architecture: string;
  family: Family;
  parameters: number;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  vocabSize: number;
  maxPositions: number;
  weightBytes: number;
  /** The linear RoPE scale it loaded with (positions × scale tokens reached); null: its positions cannot be scaled linearly (learned positions, Llama 3 or YaRN scaling). */
  ropeScale: number | null;
  /** The model folder's policy.json, validated: the keep policy (and block) its runs use unless given another. */
  policy?: PolicyFile | null;
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
  /** The learning rate the update used, after the schedule (absent in histories of older checkpoints). */
  lr?: number;
  /** Global L2 norm of the LoRA gradients before the update (absent in histories of older checkpoints). */
  gradNorm?: number;
}

/** The accountant over one step: a sample after every session run, and the peak so far. */
export interface MemoryEvent {
  type: 'memory';
  step: number;
  samples: MemorySample[];
  peakTotal: number;
  peakSplit: ByKind;
}

/** Which blocks each layer kept in the step's sequence. */
export interface SparsityEvent {
  type: 'sparsity';
  step: number;
  /** Tokens per block, and blocks in the sequence. */
  block: number;
  blocks: number;
  /** Per layer: kept block indices, or null where the layer ran dense. */
  kept: (number[] | null)[];
  /** Per layer: share of the oracle's kept blocks the predictors kept (lemo mode), else null. */
  recall: (number | null)[] | null;
  /** The decoded text of each block of the sequence. */
  blockText: string[];
}

/** The adapter so far on held-out text: every layer dense, the same chunks each time. */
export interface EvalEvent {
  type: 'eval';
  step: number;
  /** Mean negative log-likelihood per predicted token (nats), and its exponential. */
  loss: number;
  perplexity: number;
  tokens: number;
  ms: number;
}

/** A step whose loss was NaN or infinite: nothing was applied and the run goes on with `lr`. */
export interface SkippedEvent {
  type: 'skipped';
  step: number;
  loss: number;
  lr: number;
  /** One sentence for the page and the terminal. */
  message: string;
}

/** A checkpoint of the run after `step` was written (`bytes` long, in `ms`). */
export interface CheckpointEvent {
  type: 'checkpoint';
  step: number;
  bytes: number;
  ms: number;
}

/** A run continued from a checkpoint: the steps it had done, to draw again. */
export interface ResumedEvent {
  type: 'resumed';
  step: number;
  history: StepEvent[];
  skipped: SkippedEvent[];
}

/** Text being tokenized, when it takes a while: characters done of the total, every few seconds. */
export interface TokenizingEvent {
  type: 'tokenizing';
  done: number;
  total: number;
}

/** The dense baseline for the same settings, measured by a dense step on the run's first window. */
export interface BaselineEvent {
  type: 'baseline';
  peakTotal: number;
  peakSplit: ByKind;
  source: string;
}

export type EngineEvent =
  | MemoryEvent
  | SparsityEvent
  | BaselineEvent
  | { type: 'provider'; provider: Provider; reason: string }
  | { type: 'dataset'; summary: DatasetSummary }
  | TokenizingEvent
  | StepEvent
  | SkippedEvent
  | CheckpointEvent
  | ResumedEvent
  | EvalEvent
  | { type: 'status'; state: 'running' | 'paused' | 'stopped' | 'finished'; step: number }
  | { type: 'log'; message: string }
  /** Text continued so far by `generate` (the base model's, or with the adapter trained here). */
  | { type: 'generated'; side: 'base' | 'adapter'; text: string };

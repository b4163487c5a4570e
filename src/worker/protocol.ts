// The one message protocol between the page and the engine worker.
import type { EngineEvent, ModelSummary } from '../engine/events';
import type { PredictorSummary, TrainSettings } from '../engine/session';
import type { BenchRow } from '../engine/train/bench';
import type { Provider } from '../engine/runtime/runtime';
import type { InterruptedRun } from './checkpoint-store';

export type ProviderChoice = 'auto' | Provider;

export interface TextFile {
  name: string;
  text: string;
}

export interface RequestMap {
  init: { args: { provider: ProviderChoice }; result: { provider: Provider; reason: string; threads: number } };
  'load-model': {
    /** memoryBudget: bytes the model may take, replacing the device's figure. */
    args: { config: unknown; weights: ArrayBuffer; tokenizer?: unknown; tokenizerConfig?: unknown; memoryBudget?: number };
    result: ModelSummary;
  };
  grad: {
    args: { inputIds: number[][]; adapter?: { config: unknown; weights: ArrayBuffer }; lora?: { loraR: number; loraAlpha: number; targetModules: string[]; seed: number } };
    result: { loss: number; tokens: number; grads: Record<string, Float32Array>; ms: number; locations: string[] };
  };
  train: {
    /** With resume, the interrupted run's checkpoint, data and settings replace files and settings. */
    args: { files: TextFile[]; settings: TrainSettings; heldout?: { files: TextFile[]; every: number; chunks: number }; resume?: boolean };
    result: { steps: number; lastLoss: number };
  };
  /** The run a reload, a crash or a lost GPU interrupted (its checkpoint in the browser's storage), if any. */
  'interrupted-run': { args: Record<string, never>; result: InterruptedRun | null };
  'discard-run': { args: Record<string, never>; result: null };
  /** Documents and tokens of a dataset, before a run. */
  'count-tokens': { args: { files: TextFile[] }; result: { documents: number; tokens: number } };
  /** Pattern predictors for the loaded model (lemo mode). */
  'load-predictors': { args: { bytes: ArrayBuffer }; result: PredictorSummary };
  control: { args: { action: 'pause' | 'resume' | 'stop' }; result: null };
  /** The trained run as a .zip: PEFT's adapter (with the predictors when loaded), or the merged model folder. */
  export: { args: { kind: 'adapter' | 'merged'; baseModel: string }; result: { name: string; zip: ArrayBuffer; files: { name: string; bytes: number }[] } };
  bench: {
    args: { files: { name: string; text: string }[]; ctxs: number[]; modes: ('dense' | 'oracle' | 'lemo')[]; steps: number; block: number; policy?: unknown[]; mlpKeep?: number };
    result: BenchRow[];
  };
}

export type RequestType = keyof RequestMap;

export interface Request<K extends RequestType = RequestType> {
  id: number;
  type: K;
  args: RequestMap[K]['args'];
}

export interface WorkerError {
  message: string;
  stack?: string;
  /** True when the user caused it (bad file, unsupported model); the message is for them. */
  user: boolean;
}

export type WorkerMessage =
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: WorkerError }
  | { kind: 'event'; event: EngineEvent };

// The one message protocol between the page and the engine worker. Requests are parsed with zod
// where they enter the worker: a malformed one is refused with what was wrong.
import { z } from 'zod';
import { SPARSITY_MODES, trainSettingsSchema, type BenchRow, type EngineEvent, type ModelSummary, type PredictorSummary, type Provider, type RunForecast, type TrainSettings } from '../engine';
import type { InterruptedRun } from './checkpoint-store';

export type ProviderChoice = 'auto' | Provider;

export interface TextFile {
  name: string;
  text: string;
}

export interface RequestMap {
  init: { args: { provider: ProviderChoice }; result: { provider: Provider; reason: string; threads: number } };
  /** Whether a provider can run in this browser (the provider it resolves to), without changing the engine. */
  'check-provider': { args: { provider: ProviderChoice }; result: { provider: Provider; reason: string } };
  'load-model': {
    /**
     * memoryBudget: bytes the model may take, replacing the device's figure; policy: the folder's policy.json, its default keep policy.
     * weights: model.safetensors, or with index (model.safetensors.index.json), the shards it names:
     * their bytes, or the dropped files themselves (the worker reads each header first, then each tensor when asked).
     */
    args: { config: unknown; weights: ArrayBuffer | File | { name: string; bytes: ArrayBuffer }[] | File[]; index?: unknown; tokenizer?: unknown; tokenizerConfig?: unknown; policy?: unknown; memoryBudget?: number };
    result: ModelSummary;
  };
  grad: {
    /**
     * group: shifted sparse attention in groups of this many tokens; keep: blocks forced per layer ({"block": b, "layers": [...]});
     * headChunkRows: vocabulary rows per LM-head chunk, in place of the engine's choice.
     */
    args: { inputIds: number[][]; adapter?: { config: unknown; weights: ArrayBuffer }; lora?: { loraR: number; loraAlpha: number; targetModules: string[]; seed: number }; group?: number; keep?: unknown; headChunkRows?: number };
    result: { loss: number; tokens: number; grads: Record<string, Float32Array>; ms: number; locations: string[]; kernelRuns: Record<string, number>; headChunks: [number, number][] };
  };
  train: {
    /** With resume, the interrupted run's checkpoint, data and settings replace files and settings. */
    args: { files: TextFile[]; settings: TrainSettings; heldout?: { files: TextFile[]; every: number; chunks: number }; resume?: boolean };
    result: { steps: number; lastLoss: number };
  };
  /** The memory a run of these settings would take at its peak, dense and with token elimination, and why it would be refused (null: it fits). */
  forecast: { args: { settings: TrainSettings }; result: RunForecast & { refusal: string | null } };
  /** The run a reload, a crash or a lost GPU interrupted (its checkpoint in the browser's storage), if any. */
  'interrupted-run': { args: Record<string, never>; result: InterruptedRun | null };
  'discard-run': { args: Record<string, never>; result: null };
  /** Documents and tokens of a dataset, before a run: in all, and per file. */
  'count-tokens': { args: { files: TextFile[] }; result: { documents: number; tokens: number; files: { name: string; documents: number; tokens: number }[] } };
  /** Pattern predictors for the loaded model (lemo mode). */
  'load-predictors': { args: { bytes: ArrayBuffer }; result: PredictorSummary };
  control: { args: { action: 'pause' | 'resume' | 'stop' }; result: null };
  /** The trained run as a .zip: PEFT's adapter (with the predictors when loaded), or the merged model folder. */
  export: { args: { kind: 'adapter' | 'merged'; baseModel: string }; result: { name: string; zip: ArrayBuffer; files: { name: string; bytes: number }[] } };
  /** Continues a prompt with the base model or the adapter trained here; the text streams as 'generated' events. */
  generate: { args: { prompt: string; side: 'base' | 'adapter'; maxTokens: number; temperature: number; topP: number; seed: number }; result: { text: string; tokens: number } };
  /** Ends a generation after its current token. */
  'stop-generate': { args: Record<string, never>; result: null };
  bench: {
    args: { files: { name: string; text: string }[]; ctxs: number[]; modes: ('dense' | 'oracle' | 'lemo')[]; steps: number; block: number; policy?: TrainSettings['policy']; mlpKeep?: number };
    result: BenchRow[];
  };
}

export type RequestType = keyof RequestMap;

export interface Request<K extends RequestType = RequestType> {
  id: number;
  type: K;
  args: RequestMap[K]['args'];
}

const textFiles = z.array(z.object({ name: z.string(), text: z.string() }));
const bytes = z.instanceof(ArrayBuffer);
const file = z.custom<File>((x) => typeof File !== 'undefined' && x instanceof File, 'a file');

/** What each request's arguments must be. */
const argSchemas: { [K in RequestType]: z.ZodType } = {
  init: z.object({ provider: z.enum(['auto', 'wasm', 'webgpu', 'cpu']) }),
  'check-provider': z.object({ provider: z.enum(['auto', 'wasm', 'webgpu', 'cpu']) }),
  'load-model': z.object({ config: z.unknown(), weights: z.union([bytes, file, z.array(z.object({ name: z.string(), bytes })), z.array(file)]), index: z.unknown().optional(), tokenizer: z.unknown().optional(), tokenizerConfig: z.unknown().optional(), policy: z.unknown().optional(), memoryBudget: z.number().optional() }),
  grad: z.object({
    inputIds: z.array(z.array(z.number().int())),
    adapter: z.object({ config: z.unknown(), weights: bytes }).optional(),
    lora: z.object({ loraR: z.number(), loraAlpha: z.number(), targetModules: z.array(z.string()), seed: z.number() }).optional(),
    group: z.number().optional(),
    keep: z.unknown().optional(),
    headChunkRows: z.number().int().positive().optional(),
  }),
  train: z.object({
    files: textFiles,
    settings: trainSettingsSchema,
    heldout: z.object({ files: textFiles, every: z.number(), chunks: z.number() }).optional(),
    resume: z.boolean().optional(),
  }),
  forecast: z.object({ settings: trainSettingsSchema }),
  'interrupted-run': z.object({}),
  'discard-run': z.object({}),
  'count-tokens': z.object({ files: textFiles }),
  'load-predictors': z.object({ bytes }),
  control: z.object({ action: z.enum(['pause', 'resume', 'stop']) }),
  export: z.object({ kind: z.enum(['adapter', 'merged']), baseModel: z.string() }),
  generate: z.object({ prompt: z.string(), side: z.enum(['base', 'adapter']), maxTokens: z.number().int().positive(), temperature: z.number().nonnegative(), topP: z.number().gt(0).lte(1), seed: z.number() }),
  'stop-generate': z.object({}),
  bench: z.object({
    files: textFiles, ctxs: z.array(z.number()), modes: z.array(z.enum(SPARSITY_MODES)), steps: z.number(), block: z.number(),
    policy: trainSettingsSchema.shape.policy.unwrap().optional(), mlpKeep: z.number().optional(),
  }),
};

/** A request as it arrives, checked: its type known and its arguments of the right shape. */
export function parseRequest(data: unknown): { type: RequestType; args: unknown } {
  const envelope = z.object({ id: z.number(), type: z.string(), args: z.unknown() }).safeParse(data);
  if (!envelope.success) throw new Error('The worker received a message that is not a request.');
  const { type, args } = envelope.data;
  if (!(type in argSchemas)) throw new Error(`unknown request ${type}`);
  const parsed = argSchemas[type as RequestType].safeParse(args ?? {});
  if (!parsed.success) throw new Error(`The ${type} request is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; ')}.`);
  return { type: type as RequestType, args: parsed.data };
}

export interface WorkerError {
  message: string;
  stack?: string;
  /** True when the user caused it (bad file, unsupported model); the message is for them. */
  user: boolean;
  /** A run that stopped for the reason given (the engine's RunStopped): its adapter is kept as of this step (0: none applied). */
  stopped?: number;
}

export type WorkerMessage =
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: WorkerError }
  | { kind: 'event'; event: EngineEvent };

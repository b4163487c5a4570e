// Shared by the CLI commands: an engine session on onnxruntime-web's WASM provider in Node,
// with a model folder (and its tokenizer) loaded.
import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { decodeDataset, DEFAULT_PATHS, EngineSession, installWasmMemoryTracker, loadOrtForNode, parseDataset, Runtime, UserError, wasmHeapBytes, type Document, type EngineEvent, type MemoryBudget, type TrainSettings } from '../engine/node';
import { readDatasetBytes, readJson, readModelDir } from './files';

/** The studio's default model, shipped under public/. */
export const DEFAULT_MODEL_DIR = resolve(new URL(`../../public/${DEFAULT_PATHS.model}`, import.meta.url).pathname);
/** The default fine-tuning dataset's training part. */
export const DEFAULT_DATA_FILE = resolve(new URL(`../../public/${DEFAULT_PATHS.data}`, import.meta.url).pathname);
/** Its held-out part. */
export const DEFAULT_HELDOUT_FILE = resolve(new URL(`../../public/${DEFAULT_PATHS.heldout}`, import.meta.url).pathname);

export interface RuntimeFlags {
  threads: string;
  backend: string;
  memoryBudget?: string;
}

/** --memory-budget in GiB, or this machine's memory. */
export function memoryBudgetOf(flags: RuntimeFlags): MemoryBudget {
  if (flags.memoryBudget === undefined) return { bytes: totalmem(), source: "this machine's memory" };
  const gib = Number(flags.memoryBudget);
  if (!(gib > 0)) throw new UserError(`--memory-budget must be a positive number of GiB, got "${flags.memoryBudget}".`);
  return { bytes: gib * 2 ** 30, source: '--memory-budget' };
}

export async function nodeRuntime(flags: RuntimeFlags): Promise<Runtime> {
  if (flags.backend !== 'node' && flags.backend !== 'wasm') throw new UserError(`--backend must be node or wasm, got "${flags.backend}".`);
  const threads = int(flags.threads, 'threads');
  // Under WASM the device figure is onnxruntime's heap (its high-water mark), as in the page.
  if (flags.backend === 'wasm') installWasmMemoryTracker();
  const { ort, provider } = await loadOrtForNode(threads, flags.backend);
  return new Runtime(ort, { provider, threads, probe: flags.backend === 'wasm' ? wasmHeapBytes : undefined });
}

/** policy: read the folder's policy.json too (the commands that eliminate tokens). */
/** step: a run's batch and context, forecast against the memory before the weights are read. */
export async function openSession(modelDir: string, flags: RuntimeFlags, opts: { ropeScale?: number; onEvent?: (e: EngineEvent) => void; policy?: boolean; step?: { batch: number; ctx: number; offload?: TrainSettings['offload'] } } = {}) {
  const rt = await nodeRuntime(flags);
  const session = new EngineSession(rt, (e) => (e.type === 'tokenizing' ? tokenizing(e.done, e.total) : opts.onEvent?.(e)));
  const tokPath = join(modelDir, 'tokenizer.json');
  const tokCfgPath = join(modelDir, 'tokenizer_config.json');
  const summary = session.loadModel(
    {
      ...readModelDir(modelDir, { policy: opts.policy }),
      tokenizer: existsSync(tokPath) ? readJson(tokPath, 'tokenizer.json') : undefined,
      tokenizerConfig: existsSync(tokCfgPath) ? readJson(tokCfgPath, 'tokenizer_config.json') : undefined,
    },
    { ropeScale: opts.ropeScale, memoryBudget: memoryBudgetOf(flags), step: opts.step },
  );
  return { session, summary, name: basename(resolve(modelDir)) };
}

/** A long tokenization's progress on stderr (the engine tells it every few seconds). */
function tokenizing(done: number, total: number): void {
  const m = (n: number) => `${(n / 1e6).toFixed(1)} M`;
  process.stderr.write(`tokenizing: ${Math.floor((100 * done) / total)}% (${m(done)} of ${m(total)} characters)\n`);
}

export function readDataset(path: string): Document[] {
  return parseDataset(basename(path), decodeDataset(basename(path), readDatasetBytes(path)));
}

export function int(value: string, name: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UserError(`--${name} must be an integer ≥ ${min}, got "${value}".`);
  return n;
}

export function num(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UserError(`--${name} must be a number, got "${value}".`);
  return n;
}

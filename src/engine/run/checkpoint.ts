// A training run's checkpoint: everything a later run needs to carry on as if never stopped.
// One safetensors file: the LoRA factors under PEFT's names and the AdamW moments under
// `adamw_m/` and `adamw_v/`, with the run's JSON (settings, step, data position, learning rate,
// loss history, dataset and model identity) in the header's metadata.
import { z } from 'zod';
import { UserError } from '../errors';
import type { SkippedEvent, StepEvent } from '../events';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../model/safetensors';
import { trainSettingsSchema, type TrainSettings } from '../settings';
import type { AdamWSettings } from '../train/adamw';
import type { Document, SamplerState } from '../train/data';
import type { TrainerState } from '../train/trainer';

export const CHECKPOINT_FORMAT = 'lemo-checkpoint/1';

/** The run's part of a checkpoint (the header's JSON). */
export interface RunRecord {
  /** Steps of the run done, skipped ones included. */
  step: number;
  settings: TrainSettings;
  /** The dataset's identity and size: see DatasetIdentity. */
  dataset: DatasetIdentity;
  model: ModelIdentity;
  sampler: SamplerState;
  /** AdamW's update count and settings (its learning rate may be lower than the settings' after skipped steps). */
  optimizer: { steps: number; settings: AdamWSettings };
  /** Bad steps in a row at the end of the run so far. */
  badInARow: number;
  history: StepEvent[];
  skipped: SkippedEvent[];
}

/**
 * SHA-256 of the documents' text, in order (hashOf 'text'); checkpoints written before hashOf
 * existed hashed each document's name (its file name) with its text.
 */
export interface DatasetIdentity {
  hash: string;
  hashOf?: 'text';
  documents: number;
  windows: number;
}

/** What must match for a checkpoint to continue on a model. */
export interface ModelIdentity {
  architecture: string;
  parameters: number;
  layers: number;
  vocabSize: number;
  /** SHA-256 of the base weights (model/weights-hash.ts); absent in older checkpoints. */
  weights?: string;
}

const count = z.number().int().min(0);
/** The run record as it must be to continue (events are kept as written). */
const runRecordSchema = z.object({
  step: count,
  settings: trainSettingsSchema,
  dataset: z.object({ hash: z.string(), hashOf: z.literal('text').optional(), documents: count, windows: count }),
  model: z.object({ architecture: z.string(), parameters: count, layers: count, vocabSize: count, weights: z.string().optional() }),
  sampler: z.object({ epoch: count, at: count, windows: count }),
  optimizer: z.object({
    steps: count,
    settings: z.object({ lr: z.number(), beta1: z.number(), beta2: z.number(), eps: z.number(), weightDecay: z.number() }),
  }),
  badInARow: count.default(0),
  history: z.array(z.custom<StepEvent>((e) => typeof e === 'object' && e !== null)),
  skipped: z.array(z.custom<SkippedEvent>((e) => typeof e === 'object' && e !== null)).default([]),
});

export interface Checkpoint {
  run: RunRecord;
  state: TrainerState;
}

const M = 'adamw_m/';
const V = 'adamw_v/';

export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const p of c.state.params) {
    tensors.set(p.peft, { shape: p.shape, data: p.value });
    if (p.m) tensors.set(M + p.peft, { shape: p.shape, data: p.m });
    if (p.v) tensors.set(V + p.peft, { shape: p.shape, data: p.v });
  }
  return writeSafetensors(tensors, { format: CHECKPOINT_FORMAT, run: JSON.stringify(c.run) });
}

export function decodeCheckpoint(bytes: Uint8Array, fileName = 'checkpoint.safetensors'): Checkpoint {
  const meta = readSafetensorsHeader(bytes, fileName).metadata;
  if (meta?.format !== CHECKPOINT_FORMAT || typeof meta.run !== 'string') {
    throw new UserError(`${fileName} is not a LeMo Studio checkpoint (its header has no "${CHECKPOINT_FORMAT}" record).`);
  }
  let json: unknown;
  try {
    json = JSON.parse(meta.run);
  } catch {
    throw new UserError(`${fileName}: the run record in its header is not valid JSON; the checkpoint is damaged.`);
  }
  const parsed = runRecordSchema.safeParse(json);
  if (!parsed.success) {
    throw new UserError(`${fileName}: the run record lacks the step, settings, data position or optimizer; the checkpoint is damaged.`);
  }
  const run: RunRecord = parsed.data;
  const tensors = readSafetensors(bytes, fileName);
  const params: TrainerState['params'] = [];
  for (const [name, t] of tensors) {
    if (name.startsWith(M) || name.startsWith(V)) continue;
    if (t.shape.length !== 2) throw new UserError(`${fileName}: ${name} has shape [${t.shape}], not a LoRA factor's two dimensions.`);
    const shape: [number, number] = [t.shape[0], t.shape[1]];
    params.push({ peft: name, shape, value: t.data, m: tensors.get(M + name)?.data ?? null, v: tensors.get(V + name)?.data ?? null });
  }
  checkParams(params, run.optimizer.steps, fileName);
  return { run, state: { steps: run.optimizer.steps, optimizer: run.optimizer.settings, params } };
}

/**
 * A checkpoint's LoRA factors and AdamW moments as a run can continue from them: every value
 * finite, and both moments of every tensor once AdamW has stepped (fresh moments would not
 * continue the run).
 */
function checkParams(params: TrainerState['params'], steps: number, fileName: string): void {
  for (const p of params) {
    if (steps > 0 && (!p.m || !p.v)) {
      throw new UserError(`${fileName}: AdamW's moments of ${p.peft} are missing after ${steps} optimizer steps; the checkpoint is damaged and the run cannot continue exactly from it.`);
    }
    for (const [what, data] of [['values', p.value], ['AdamW first moments', p.m], ['AdamW second moments', p.v]] as const) {
      if (data && !data.every(Number.isFinite)) throw new UserError(`${fileName}: the ${what} of ${p.peft} hold NaN or infinite numbers; the checkpoint is damaged and the run cannot continue from it.`);
    }
  }
}

/** SHA-256 (hex) of the documents' text, in order; withNames: each preceded by its name (how older checkpoints identified data). */
export async function datasetHash(docs: Document[], withNames = false): Promise<string> {
  const enc = new TextEncoder();
  const parts = docs.flatMap((d) => [...(withNames ? [enc.encode(d.name), Uint8Array.of(0)] : []), enc.encode(d.text), Uint8Array.of(0)]);
  const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The data a run reads, as its checkpoints identify it; legacy: also the older hash, to compare with a checkpoint written before hashOf. */
export async function datasetIdentity(docs: Document[], windows: number, legacy: boolean): Promise<DatasetIdentity & { legacyHash?: string }> {
  const id: DatasetIdentity = { hash: await datasetHash(docs), hashOf: 'text', documents: docs.length, windows };
  return legacy ? { ...id, legacyHash: await datasetHash(docs, true) } : id;
}

const short = (hash: string) => hash.slice(0, 12);

/** Why a checkpoint cannot continue with this model and data, or null when it can. */
export function mismatch(run: RunRecord, model: ModelIdentity, dataset: DatasetIdentity & { legacyHash?: string }): string | null {
  const m = run.model;
  if (m.architecture !== model.architecture || m.parameters !== model.parameters || m.layers !== model.layers || m.vocabSize !== model.vocabSize) {
    return `The checkpoint was made with another model (${m.architecture}, ${m.parameters.toLocaleString('en')} parameters); the loaded one is ${model.architecture} with ${model.parameters.toLocaleString('en')}.`;
  }
  if (m.weights && model.weights && m.weights !== model.weights) {
    return `The checkpoint was made with other weights of the same shape (SHA-256 ${short(m.weights)}…, the loaded ones are ${short(model.weights)}…): load the model the run was trained from to continue it.`;
  }
  const legacy = run.dataset.hashOf !== 'text';
  if (run.dataset.hash !== (legacy ? dataset.legacyHash : dataset.hash)) {
    const why = legacy ? ' (this checkpoint is of an older format that identifies the data by its file names as well as its text: give the data under the file name the run was made with)' : '';
    return `The checkpoint was made on other data (${run.dataset.documents} documents, ${run.dataset.windows} windows); the data now loaded (${dataset.documents} documents, ${dataset.windows} windows) differs, so the run cannot continue where it was${why}.`;
  }
  return null;
}

/** Why a run cannot continue from this checkpoint to a total of `steps`, or null. */
export function nothingLeft(run: RunRecord, steps: number): string | null {
  if (steps > run.step) return null;
  return `The run has already done ${run.step} steps, so a total of ${steps} leaves nothing to train: ask for more than ${run.step} steps (--steps) to continue it.`;
}

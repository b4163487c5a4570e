// A training run's checkpoint: everything a later run needs to carry on as if never stopped.
// One safetensors file: the LoRA factors under PEFT's names and the AdamW moments under
// `adamw_m/` and `adamw_v/`, with the run's JSON (settings, step, data position, learning rate,
// loss history, dataset and model identity) in the header's metadata.
import { UserError } from '../errors';
import type { SkippedEvent, StepEvent } from '../events';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../model/safetensors';
import type { TrainSettings } from '../session';
import type { AdamWSettings } from './adamw';
import type { Document, SamplerState } from './data';
import type { TrainerState } from './trainer';

export const CHECKPOINT_FORMAT = 'lemo-checkpoint/1';

/** The run's part of a checkpoint (the header's JSON). */
export interface RunRecord {
  /** Steps of the run done, skipped ones included. */
  step: number;
  settings: TrainSettings;
  /** SHA-256 of the dataset's documents (names and text), and its size. */
  dataset: { hash: string; documents: number; windows: number };
  model: ModelIdentity;
  sampler: SamplerState;
  /** AdamW's update count and settings (its learning rate may be lower than the settings' after skipped steps). */
  optimizer: { steps: number; settings: AdamWSettings };
  /** Bad steps in a row at the end of the run so far. */
  badInARow: number;
  history: StepEvent[];
  skipped: SkippedEvent[];
  /** The pattern predictors' state, once runs train them with the adapter; null until then. */
  predictors: null;
}

/** What must match for a checkpoint to continue on a model. */
export interface ModelIdentity {
  architecture: string;
  parameters: number;
  layers: number;
  vocabSize: number;
}

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
  let run: RunRecord;
  try {
    run = JSON.parse(meta.run) as RunRecord;
  } catch {
    throw new UserError(`${fileName}: the run record in its header is not valid JSON; the checkpoint is damaged.`);
  }
  if (!Number.isInteger(run.step) || !run.settings || !run.sampler || !run.optimizer || !Array.isArray(run.history)) {
    throw new UserError(`${fileName}: the run record lacks the step, settings, data position or optimizer; the checkpoint is damaged.`);
  }
  const tensors = readSafetensors(bytes, fileName);
  const params: TrainerState['params'] = [];
  for (const [name, t] of tensors) {
    if (name.startsWith(M) || name.startsWith(V)) continue;
    if (t.shape.length !== 2) throw new UserError(`${fileName}: ${name} has shape [${t.shape}], not a LoRA factor's two dimensions.`);
    const shape: [number, number] = [t.shape[0], t.shape[1]];
    params.push({ peft: name, shape, value: t.data, m: tensors.get(M + name)?.data ?? null, v: tensors.get(V + name)?.data ?? null });
  }
  return { run, state: { steps: run.optimizer.steps, optimizer: run.optimizer.settings, params } };
}

/** SHA-256 (hex) of the documents' names and text, in order. */
export async function datasetHash(docs: Document[]): Promise<string> {
  const enc = new TextEncoder();
  const parts = docs.flatMap((d) => [enc.encode(d.name), Uint8Array.of(0), enc.encode(d.text), Uint8Array.of(0)]);
  const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Why a checkpoint cannot continue with this model and data, or null when it can. */
export function mismatch(run: RunRecord, model: ModelIdentity, dataset: RunRecord['dataset']): string | null {
  const m = run.model;
  if (m.architecture !== model.architecture || m.parameters !== model.parameters || m.layers !== model.layers || m.vocabSize !== model.vocabSize) {
    return `The checkpoint was made with another model (${m.architecture}, ${m.parameters.toLocaleString('en')} parameters); the loaded one is ${model.architecture} with ${model.parameters.toLocaleString('en')}.`;
  }
  if (run.dataset.hash !== dataset.hash) {
    return `The checkpoint was made on other data (${run.dataset.documents} documents, ${run.dataset.windows} windows); the data now loaded (${dataset.documents} documents, ${dataset.windows} windows) differs, so the run cannot continue where it was.`;
  }
  return null;
}

/** Bad steps in a row after which a run stops. */
export const BAD_STEPS_LIMIT = 3;

const fmtLr = (lr: number) => String(Number(lr.toPrecision(3)));

/** What a run keeps between checkpoints: where it is, its loss history, its skipped steps. */
export class RunJournal {
  step: number;
  history: StepEvent[];
  skipped: SkippedEvent[];
  badInARow: number;

  constructor(from?: RunRecord) {
    this.step = from?.step ?? 0;
    this.history = [...(from?.history ?? [])];
    this.skipped = [...(from?.skipped ?? [])];
    this.badInARow = from?.badInARow ?? 0;
  }

  /** A step that was applied. */
  stepped(e: StepEvent): StepEvent {
    this.step = e.step;
    this.history.push(e);
    this.badInARow = 0;
    return e;
  }

  /**
   * A step whose loss was NaN or infinite (nothing was applied): halves the learning rate,
   * reports it, and stops the run once BAD_STEPS_LIMIT came in a row.
   */
  skip(step: number, loss: number, trainer: { optimizer: AdamWSettings }, emit: (e: SkippedEvent) => void): void {
    this.step = step;
    this.badInARow++;
    trainer.optimizer = { ...trainer.optimizer, lr: trainer.optimizer.lr / 2 };
    const lr = trainer.optimizer.lr;
    const e: SkippedEvent = { type: 'skipped', step, loss, lr, message: `step ${step}: the loss was ${loss}; the step was skipped (nothing applied) and the learning rate lowered to ${fmtLr(lr)}.` };
    this.skipped.push(e);
    emit(e);
    if (this.badInARow >= BAD_STEPS_LIMIT) {
      throw new UserError(
        `Training stopped at step ${step}: the loss was NaN or infinite in ${this.badInARow} steps in a row, even with the learning rate lowered to ${fmtLr(lr)}. ` +
          'The adapter keeps its last good update. Try a lower learning rate, or check the data and the model\'s weights for NaN or infinite values.',
      );
    }
  }

  record(settings: TrainSettings, dataset: RunRecord['dataset'], model: ModelIdentity, sampler: SamplerState, state: TrainerState): Checkpoint {
    return {
      run: {
        step: this.step, settings, dataset, model, sampler, optimizer: { steps: state.steps, settings: state.optimizer },
        badInARow: this.badInARow, history: this.history, skipped: this.skipped, predictors: null,
      },
      state,
    };
  }
}

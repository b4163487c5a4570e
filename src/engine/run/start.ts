// Starting a training run: the dataset's windows and identity, the held-out chunks, the dense
// baseline for token-eliminating runs, and a fresh trainer; then the run resumes when asked to.
import type { EngineEvent } from '../events';
import { parseAdapterConfig, settingsLora, type LoraConfig } from '../model/lora';
import { applyRopeScale, type Model } from '../model/model';
import { readSafetensors, type MemoryBudget } from '../model/safetensors';
import type { TextTokenizer } from '../model/tokenizer';
import type { Runtime } from '../runtime/runtime';
import type { TrainSettings } from '../settings';
import type { PredictorSet } from '../sparsity/predictor';
import { pinnedSettings, type PolicyFile } from '../sparsity/run-policy';
import type { Sparsity } from '../sparsity/selectors';
import { ADAMW_DEFAULTS, scheduleFactor } from '../train/adamw';
import { WindowSampler, windows, type Document } from '../train/data';
import type { DeviceModel } from '../train/device-model';
import { Trainer } from '../train/trainer';
import type { SegmentRows } from '../train/segments';
import { measureBaseline } from './baseline';
import { datasetIdentity, type ModelIdentity } from './checkpoint';
import { heldoutChunks } from './evaluate';
import { RunControl, TrainingRun } from './loop';
import type { AdapterFiles, HeldOut, RunOptions } from './options';
import { forecastRun, type RunForecast } from './forecast';
import { checkOffload, checkRunFits, checkTrainRun } from './limits';

/** What a checkpoint must match to continue on a model. */
export function modelIdentity(m: Model): ModelIdentity {
  return { architecture: m.config.architecture, parameters: m.parameterCount, layers: m.config.layers, vocabSize: m.config.vocabSize };
}

/** A run's settings (the model's policy pinned) checked, and its memory forecast. */
export interface PreparedRun {
  settings: TrainSettings;
  forecast: RunForecast;
  /** Puts the model's RoPE scale back as it was before the run (one refused before it starts), and throws `e`. */
  restoreRope(e: unknown): never;
}

/** What a run is checked against: the model, the engine and its memory budget, the predictors and the model's policy file. */
export interface RunGround {
  model: Model;
  rt: Pick<Runtime, 'transientBudget' | 'bufferLimit' | 'onDevice'>;
  budget: MemoryBudget | undefined;
  predictors: PredictorSet | null;
  modelPolicy: PolicyFile | null;
}

/**
 * A run's settings checked against the model and, with `run`, its forecast against the memory;
 * the settings' RoPE scale (null: the one the model loaded with) is set on the model and stays
 * for the run (its evaluations and export use it). Without `run`, or when refused, the scale
 * before comes back.
 */
export function prepareRun(given: TrainSettings, at: RunGround, run: boolean): PreparedRun {
  const cfg = at.model.config;
  const before = cfg.rope?.linearFactor ?? 1;
  const restoreRope = (e: unknown): never => {
    if (cfg.rope) cfg.rope.linearFactor = before;
    throw e;
  };
  try {
    applyRopeScale(cfg, given.ropeScale ?? at.model.ropeScale ?? 1, 'The RoPE scale (--rope-scale)');
    const settings = pinnedSettings(given, cfg.layers, at.modelPolicy);
    const p = at.predictors;
    checkTrainRun(given, settings, { model: at.model, budget: at.budget, predictorsBlock: p?.config.block });
    const predictors = p && { block: p.config.block, bytes: 4 * p.parameterCount };
    const forecast = forecastRun(at.rt, { model: at.model, lora: settingsLora(settings, cfg), settings: given, modelPolicy: at.modelPolicy, predictors, budget: at.budget });
    if (run) checkRunFits(forecast, settings.sparsity);
    else if (cfg.rope) cfg.rope.linearFactor = before;
    return { settings, forecast, restoreRope };
  } catch (e) {
    return restoreRope(e);
  }
}

/** A trainer with a given PEFT adapter's factors, or fresh ones of this LoRA. */
export async function trainerOf(dm: DeviceModel, adapter: AdapterFiles | undefined, lora: LoraConfig, seed = 0, rows: SegmentRows = {}): Promise<Trainer> {
  const cfg = adapter ? parseAdapterConfig(adapter.config) : lora;
  const tensors = adapter ? readSafetensors(adapter.weights, 'adapter_model.safetensors') : undefined;
  return Trainer.create(dm, dm.model, cfg, { ...rows, seed, adapter: tensors });
}

export interface RunStart {
  docs: Document[];
  settings: TrainSettings;
  /** The model on the device and the sparsity, asked for once the data is read. */
  device: () => Promise<DeviceModel>;
  sparsity: () => Promise<Sparsity>;
  lora: () => LoraConfig;
  /** SHA-256 of the base weights (model/weights-hash.ts), which checkpoints record. */
  weightsHash: () => Promise<string>;
  tokenize: (docs: Document[]) => number[][];
  tokenizer: TextTokenizer | null;
  heldout?: HeldOut;
  options: RunOptions;
  /** Why a dense step would not fit the memory (run/limits.ts forecastRefusal): the dense baseline is then not measured. */
  denseRefusal?: string | null;
}

/** A run ready to loop: its trainer is fresh, or carries the checkpoint's state when resuming. */
export async function startRun(s: RunStart, control: RunControl, emit: (e: EngineEvent) => void): Promise<{ run: TrainingRun; trainer: Trainer }> {
  const { settings, docs } = s;
  checkOffload(settings.offload, !!s.options.spill);
  const ids = s.tokenize(docs);
  const all = windows(ids, settings.ctx);
  emit({ type: 'dataset', summary: { documents: docs.length, tokens: ids.reduce((a, d) => a + d.length, 0), windows: all.length, ctx: settings.ctx } });
  const sampler = new WindowSampler(all, settings.seed);
  const h = s.heldout;
  const chunks = h && h.every > 0 ? heldoutChunks(h.docs, h.chunks, settings.ctx, (d) => s.tokenize([d])[0]) : null;
  const dm = await s.device();
  const sparsity = await s.sparsity();
  if (sparsity.mode !== 'dense' && s.denseRefusal) emit({ type: 'log', message: `The dense baseline is not measured: ${s.denseRefusal.replace(/^A dense run/, 'its dense step').replace(/: [^:]*$/, '.')}` });
  else if (sparsity.mode !== 'dense') await measureBaseline(dm, s.lora(), settings.seed, new WindowSampler(all, settings.seed).next(settings.batch), emit);
  const schedule = (step: number) => scheduleFactor(settings.schedule, settings.warmup, settings.steps, step);
  const trainer = await Trainer.create(dm, dm.model, s.lora(), { seed: settings.seed, optimizer: { ...ADAMW_DEFAULTS, lr: settings.lr, weightDecay: settings.weightDecay }, schedule, offload: { mode: settings.offload, store: s.options.spill } });
  const tok = s.tokenizer;
  const resume = s.options.resume;
  const run = new TrainingRun({
    trainer, settings, sparsity, sampler, identity: { ...modelIdentity(dm.model), weights: await s.weightsHash() }, resume, onCheckpoint: s.options.onCheckpoint,
    dataset: await datasetIdentity(docs, all.length, !!resume && resume.run.dataset.hashOf !== 'text'),
    heldout: chunks && { chunks, every: h!.every }, decode: tok ? (x) => tok.decode(x) : null,
  }, control, emit);
  await run.restore();
  return { run, trainer };
}

// One engine instance as the shells see it: a model, a tokenizer, a trainer, and a run that
// can be paused, resumed and stopped between steps. Knows nothing of workers, DOM or files.
import type { EngineEvent, ModelSummary, DatasetSummary, MemorySample } from './events';
import { UserError } from './errors';
import { loadModel, type Model, type ModelFiles } from './model/model';
import { loadTokenizer, type TextTokenizer } from './model/tokenizer';
import { DEFAULT_TARGETS, loraConfig, parseAdapterConfig, type LoraConfig } from './model/lora';
import { readSafetensors } from './model/safetensors';
import type { Runtime } from './runtime/runtime';
import { Trainer, type Sparsity } from './train/trainer';
import { artifactPolicy, parsePolicy, type LayerPolicy } from './sparsity/policy';
import { WindowSampler, windows, type Document } from './train/data';
import { ADAMW_DEFAULTS } from './train/adamw';
import { DeviceModel } from './train/device-model';
import { benchmark, type BenchPlan, type BenchRow } from './train/bench';
import { perplexity, type EvalResult } from './train/evaluate';
import { adapterConfigJson, adapterSafetensors } from './export/peft';
import { mergeAdapter, type FolderFile } from './export/merged';
import { checkFits, type MemoryBudget } from './model/safetensors';
import { checkContext } from './model/config';
import { datasetHash, encodeCheckpoint, mismatch, RunJournal, type Checkpoint, type ModelIdentity } from './train/checkpoint';
import { DevicePredictors, PredictorSet } from './sparsity/predictor';
import { predictorRecall, trainPredictors, type PredictorProgress, type PredictorTrainPlan } from './sparsity/predictor-train';
import { calibrationWindows, tunePolicy, type TunePlan, type TuneProgress, type TuneResult } from './sparsity/policy-tune';

export interface TrainSettings {
  ctx: number;
  steps: number;
  batch: number;
  lr: number;
  loraR: number;
  loraAlpha: number;
  /** PEFT target_modules; empty means the family's attention projections. */
  targetModules: string[];
  seed: number;
  /**
   * dense: every token in every layer; oracle: blocks chosen from q·kᵀ block scores; lemo: blocks
   * chosen by the loaded predictors (their block size replaces `block`).
   */
  sparsity: 'dense' | 'oracle' | 'lemo';
  /** Tokens per block. */
  block: number;
  /** Keep ratio of the token-eliminating layers under the paper's default policy. */
  keepRatio: number;
  /** Per layer: null (dense) or a keep ratio; replaces the paper's default when given. */
  policy: (number | null)[] | null;
  /** Share of MLP channels the backward keeps in token-eliminating layers; null: all. */
  mlpKeep: number | null;
  /** Write a checkpoint every this many steps (0: never), where the shell keeps them. */
  checkpointEvery: number;
  /** lemo mode: measure the predictors' recall against the oracle every this many steps (0: never). */
  recallEvery?: number;
}

/** What a loaded predictors file holds, for the shells to show. */
export interface PredictorSummary {
  block: number;
  parameters: number;
  bytes: number;
  layers: number;
  /** Mean recall over sparse layers the file reports from its training, if any. */
  recall: (number | null)[] | null;
}

/** Continuing from a checkpoint, and where new checkpoints go. */
export interface RunOptions {
  resume?: Checkpoint;
  /** Stores a checkpoint (every settings.checkpointEvery steps); the run waits for it. */
  onCheckpoint?: (bytes: Uint8Array, step: number) => Promise<void>;
}

export const DEFAULT_SETTINGS: TrainSettings = {
  ctx: 256, steps: 20, batch: 1, lr: 1e-3, loraR: 8, loraAlpha: 16, targetModules: [], seed: 0,
  sparsity: 'oracle', block: 32, keepRatio: 0.4, policy: null, mlpKeep: null, checkpointEvery: 5,
};

/** The trainer's sparsity for these settings. */
export function sparsityOf(s: TrainSettings, layers: number, predictors?: DevicePredictors): Sparsity {
  if (s.sparsity === 'dense') return { mode: 'dense' };
  const policy = s.policy ? parsePolicy(s.policy, layers) : artifactPolicy(layers, s.keepRatio);
  if (s.sparsity === 'lemo') {
    if (!predictors) throw new UserError('The lemo mode needs pattern predictors: load a predictors file, or train them first (lemo predictors train).');
    return { mode: 'lemo', predictors, policy, mlpKeep: s.mlpKeep ?? undefined };
  }
  return { mode: 'oracle', block: s.block, policy, mlpKeep: s.mlpKeep ?? undefined };
}

/** Held-out text the run evaluates on every `every` steps (and after its last step). */
export interface HeldOut {
  docs: Document[];
  every: number;
  /** Chunks of ctx tokens from the start of the documents, the same ones each time. */
  chunks: number;
}

export interface AdapterFiles {
  config: unknown;
  weights: Uint8Array;
}

export class EngineSession {
  private model: Model | null = null;
  /** The loaded folder as given, for the merged export. */
  private files: (ModelFiles & { tokenizer?: unknown; tokenizerConfig?: unknown }) | null = null;
  private tokenizer: TextTokenizer | null = null;
  private trainer: Trainer | null = null;
  private device: DeviceModel | null = null;
  private predictors: PredictorSet | null = null;
  private devicePredictors: DevicePredictors | null = null;
  private control: 'run' | 'pause' | 'stop' = 'run';
  private wake: (() => void) | null = null;

  constructor(readonly rt: Runtime, private emit: (e: EngineEvent) => void) {}

  loadModel(files: ModelFiles & { tokenizer?: unknown; tokenizerConfig?: unknown }, opts: { ropeScale?: number; memoryBudget?: MemoryBudget } = {}): ModelSummary {
    checkFits(files.weights, opts.memoryBudget);
    const model = loadModel(files);
    if (opts.ropeScale !== undefined && opts.ropeScale !== 1) {
      if (!model.config.rope) throw new UserError('RoPE scaling applies to the Llama family only; GPT-2 models have learned positions.');
      if (!(opts.ropeScale > 0)) throw new UserError(`The RoPE scale must be positive, got ${opts.ropeScale}.`);
      model.config.rope.linearFactor = opts.ropeScale;
    }
    let tokenizer: TextTokenizer | null = null;
    if (files.tokenizer) {
      tokenizer = loadTokenizer(files.tokenizer, files.tokenizerConfig);
      if (tokenizer.vocabSize > model.config.vocabSize) {
        throw new UserError(`tokenizer.json has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${model.config.vocabSize}: they do not belong together.`);
      }
    }
    // Replace only once everything loaded: a bad file leaves the previous model in place.
    this.model = model;
    this.files = files;
    this.tokenizer = tokenizer;
    this.trainer = null;
    this.device = null;
    this.devicePredictors = null;
    this.predictors = null;
    const c = model.config;
    return {
      architecture: c.architecture, family: c.family, parameters: model.parameterCount, layers: c.layers, hidden: c.hidden,
      heads: c.heads, kvHeads: c.kvHeads, vocabSize: c.vocabSize, maxPositions: c.maxPositions, weightBytes: model.parameterCount * 4,
    };
  }

  /** Loads a predictors file for the lemo mode; a bad file leaves the previous predictors in place. */
  loadPredictors(bytes: Uint8Array, fileName = 'predictors.safetensors'): PredictorSummary {
    const set = PredictorSet.fromBytes(bytes, fileName);
    set.checkModel(this.requireModel().config);
    this.devicePredictors?.dispose();
    this.devicePredictors = null;
    this.predictors = set;
    return this.predictorSummary(set, bytes.byteLength);
  }

  private predictorSummary(set: PredictorSet, bytes: number): PredictorSummary {
    const r = (set.config.training as { recall?: (number | null)[] } | undefined)?.recall;
    return { block: set.config.block, parameters: set.parameterCount, bytes, layers: set.config.layers.length, recall: r ?? null };
  }

  /** The loaded (or just trained) predictors as a file, or null. */
  predictorsBytes(): Uint8Array | null {
    return this.predictors?.toBytes() ?? null;
  }

  private async predictorsOnDevice(): Promise<DevicePredictors | undefined> {
    if (!this.predictors) return undefined;
    this.devicePredictors ??= await DevicePredictors.upload(this.rt, this.predictors, this.requireModel().config);
    return this.devicePredictors;
  }

  /** The trainer's sparsity for these settings, with the predictors on the device when lemo asks for them. */
  async sparsityFor(settings: TrainSettings): Promise<Sparsity> {
    return sparsityOf(settings, this.requireModel().config.layers, settings.sparsity === 'lemo' ? await this.predictorsOnDevice() : undefined);
  }

  /** The loaded predictors' recall per layer on held-out windows of ctx tokens (see predictorRecall). */
  async predictorRecall(heldout: Document[], ctx: number, windowCount: number, policy: LayerPolicy[]): Promise<(number | null)[]> {
    const model = this.requireModel();
    const dp = await this.predictorsOnDevice();
    if (!dp) throw new UserError('No predictors are loaded.');
    const evalWindows = windows(this.tokenize(heldout), ctx).slice(0, windowCount);
    if (evalWindows.length === 0) throw new UserError(`No held-out document has ${ctx} tokens.`);
    const trainer = await Trainer.create(await this.deviceModel(), model, this.loraFor({ loraR: 1, loraAlpha: 1, targetModules: [] }));
    try {
      return await predictorRecall(trainer, dp, evalWindows, policy);
    } finally {
      trainer.dispose();
    }
  }

  /** Trains pattern predictors on the frozen base model (LEMO.md 3); they become this session's predictors. */
  async trainPredictors(train: Document[], heldout: Document[], plan: PredictorTrainPlan, onProgress: (p: PredictorProgress) => void): Promise<PredictorSummary> {
    const model = this.requireModel();
    const trainer = await Trainer.create(await this.deviceModel(), model, this.loraFor({ loraR: 1, loraAlpha: 1, targetModules: [] }));
    try {
      const set = await trainPredictors(trainer, this.tokenize(train), this.tokenize(heldout), plan, onProgress);
      this.devicePredictors?.dispose();
      this.devicePredictors = null;
      this.predictors = set;
      return this.predictorSummary(set, set.toBytes().byteLength);
    } finally {
      trainer.dispose();
    }
  }

  private async deviceModel(): Promise<DeviceModel> {
    this.device ??= await DeviceModel.upload(this.rt, this.requireModel());
    return this.device;
  }

  private requireModel(): Model {
    if (!this.model) throw new UserError('Load a model first.');
    return this.model;
  }

  loraFor(settings: Pick<TrainSettings, 'loraR' | 'loraAlpha' | 'targetModules'>): LoraConfig {
    const model = this.requireModel();
    const targets = settings.targetModules.length ? settings.targetModules : DEFAULT_TARGETS[model.config.family];
    return loraConfig(settings.loraR, settings.loraAlpha, targets);
  }

  /** Loss and LoRA gradients for given ids (checks against references). */
  async grad(inputIds: number[][], adapter?: AdapterFiles, lora?: Pick<TrainSettings, 'loraR' | 'loraAlpha' | 'targetModules' | 'seed'>) {
    const model = this.requireModel();
    const cfg = adapter ? parseAdapterConfig(adapter.config) : this.loraFor(lora ?? DEFAULT_SETTINGS);
    const tensors = adapter ? readSafetensors(adapter.weights, 'adapter_model.safetensors') : undefined;
    const trainer = await Trainer.create(await this.deviceModel(), model, cfg, { seed: lora?.seed ?? 0, adapter: tensors });
    const { loss, tokens, grads } = await trainer.lossAndGrads(inputIds);
    // Where the LoRA factors and the gradients live between runs ('gpu-buffer' under WebGPU).
    const locations = [...new Set([trainer.params[0].value.location, ...[...grads.values()].map((g) => g.location)])];
    const out: Record<string, Float32Array> = {};
    for (const [name, t] of grads) {
      out[name] = Float32Array.from((await this.rt.read(t)) as Float32Array);
      this.rt.dispose(t);
    }
    return { loss, tokens, grads: out, locations };
  }

  /**
   * Token ids per document. Texts seen before with this tokenizer are not encoded again (a
   * shell counts a dataset's tokens when it loads, then trains on it); treat the ids as read-only.
   */
  tokenize(docs: Document[]): number[][] {
    if (!this.tokenizer) throw new UserError('This model has no tokenizer.json, so text cannot be tokenized.');
    const tok = this.tokenizer;
    if (this.tokenCache?.tokenizer !== tok) this.tokenCache = { tokenizer: tok, ids: new Map(), tokens: 0 };
    const cache = this.tokenCache;
    return docs.map((d) => {
      let ids = cache.ids.get(d.text);
      if (!ids) {
        ids = tok.encode(d.text);
        // Bounded: past 4 M cached tokens the cache starts over.
        if (cache.tokens + ids.length > 4_000_000) {
          cache.ids.clear();
          cache.tokens = 0;
        }
        cache.ids.set(d.text, ids);
        cache.tokens += ids.length;
      }
      return ids;
    });
  }

  private tokenCache: { tokenizer: TextTokenizer; ids: Map<string, number[]>; tokens: number } | null = null;

  /** Trains on documents until the step count, or until stopped; emits a step event per step. */
  async train(docs: Document[], settings: TrainSettings, heldout?: HeldOut, run: RunOptions = {}): Promise<{ steps: number; lastLoss: number }> {
    const model = this.requireModel();
    checkContext(model.config, settings.ctx);
    const ids = this.tokenize(docs);
    const all = windows(ids, settings.ctx);
    const summary: DatasetSummary = { documents: docs.length, tokens: ids.reduce((a, d) => a + d.length, 0), windows: all.length, ctx: settings.ctx };
    this.emit({ type: 'dataset', summary });
    const sampler = new WindowSampler(all, settings.seed);
    const evalChunks = heldout && heldout.every > 0 ? this.heldoutChunks(heldout, settings.ctx) : null;
    const dm = await this.deviceModel();
    const sparsity = await this.sparsityFor(settings);
    if (sparsity.mode === 'lemo') sparsity.recall = false;
    if (sparsity.mode !== 'dense') await this.measureBaseline(dm, settings, new WindowSampler(all, settings.seed).next(settings.batch));
    const trainer = await Trainer.create(dm, model, this.loraFor(settings), { seed: settings.seed });
    trainer.optimizer = { ...ADAMW_DEFAULTS, lr: settings.lr };
    trainer.setSparsity(sparsity);
    const journal = new RunJournal(run.resume?.run);
    const dataset = { hash: await datasetHash(docs), documents: docs.length, windows: all.length };
    const identity = this.identity();
    if (run.resume) {
      const why = mismatch(run.resume.run, identity, dataset);
      if (why) throw new UserError(why);
      await trainer.importState(run.resume.state);
      sampler.restore(run.resume.run.sampler);
      this.emit({ type: 'resumed', step: journal.step, history: [...journal.history], skipped: [...journal.skipped] });
    }
    const checkpoint = async (step: number) => {
      if (!run.onCheckpoint || !(settings.checkpointEvery > 0) || step % settings.checkpointEvery !== 0 || step === settings.steps) return;
      const t0 = performance.now();
      const bytes = encodeCheckpoint(journal.record(settings, dataset, identity, sampler.state, await trainer.exportState()));
      await run.onCheckpoint(bytes, step);
      this.emit({ type: 'checkpoint', step, bytes: bytes.byteLength, ms: performance.now() - t0 });
    };
    this.rt.memory.resetPeaks();
    this.trainer = trainer;
    this.control = 'run';
    this.emit({ type: 'status', state: 'running', step: journal.step });
    let samples: MemorySample[] = [];
    this.rt.onSample = (m) => {
      // AdamW runs once per LoRA tensor; one sample of that phase per step is enough.
      if (m.phase === 'adamw' && samples.at(-1)?.phase === 'adamw') samples[samples.length - 1] = m;
      else samples.push(m);
    };
    let lastLoss = NaN;
    for (let step = journal.step + 1; step <= settings.steps; step++) {
      // onnxruntime's WASM runs resolve as microtasks: yield a macrotask so pause and stop
      // messages reach the worker between steps.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (this.current() === 'pause') {
        this.emit({ type: 'status', state: 'paused', step: step - 1 });
        await new Promise<void>((resolve) => (this.wake = resolve));
        if (this.current() === 'run') this.emit({ type: 'status', state: 'running', step: step - 1 });
      }
      if (this.current() === 'stop') {
        this.emit({ type: 'status', state: 'stopped', step: step - 1 });
        return { steps: step - 1, lastLoss };
      }
      const t0 = performance.now();
      const batch = sampler.next(settings.batch);
      if (sparsity.mode === 'lemo') sparsity.recall = (settings.recallEvery ?? 0) > 0 && step % settings.recallEvery! === 0;
      const r = await trainer.step(batch);
      const ms = performance.now() - t0;
      if (r.skipped) {
        journal.skip(step, r.loss, trainer, this.emit);
        samples = [];
        await checkpoint(step);
        continue;
      }
      lastLoss = r.loss;
      this.emit(journal.stepped({ type: 'step', step, totalSteps: settings.steps, loss: r.loss, tokens: r.tokens, ms, tokensPerSecond: (r.tokens / ms) * 1000 }));
      const mem = this.rt.memory;
      this.emit({ type: 'memory', step, samples, peakTotal: mem.peakTotal, peakSplit: { ...mem.peakSplit } });
      samples = [];
      const sel = trainer.lastSelection;
      if (sel && this.tokenizer) {
        const seq = batch[0];
        const blockText = Array.from({ length: sel.blocks }, (_, j) => this.tokenizer!.decode(seq.slice(j * sel.block, (j + 1) * sel.block)));
        this.emit({ type: 'sparsity', step, block: sel.block, blocks: sel.blocks, kept: sel.kept, recall: sel.recall?.some((x) => x !== null) ? sel.recall : null, blockText });
      }
      if (evalChunks && (step % heldout!.every === 0 || step === settings.steps)) {
        await this.evalHeldOut(trainer, evalChunks, settings.ctx, step);
        samples = [];
      }
      await checkpoint(step);
    }
    this.emit({ type: 'status', state: 'finished', step: settings.steps });
    return { steps: settings.steps, lastLoss };
  }

  /** The first `chunks` chunks of ctx tokens of the held-out documents (tokenized one by one until there are enough). */
  private heldoutChunks(h: HeldOut, ctx: number): number[][] {
    const out: number[][] = [];
    for (const d of h.docs) {
      const ids = this.tokenize([d])[0];
      for (let s = 0; s + 2 <= ids.length && out.length < h.chunks; s += ctx) out.push(ids.slice(s, s + ctx));
      if (out.length >= h.chunks) break;
    }
    if (out.length === 0) throw new UserError('The held-out text has no two tokens to evaluate on.');
    return out;
  }

  /** Held-out perplexity of the adapter so far, every layer dense (as the model runs after training). */
  private async evalHeldOut(trainer: Trainer, chunks: number[][], ctx: number, step: number): Promise<void> {
    const t0 = performance.now();
    const select = trainer.select;
    trainer.select = async () => null;
    try {
      const r = await perplexity(trainer, chunks, ctx);
      this.emit({ type: 'eval', step, loss: r.loss, perplexity: r.perplexity, tokens: r.tokens, ms: performance.now() - t0 });
    } finally {
      trainer.select = select;
    }
  }

  /** What a checkpoint must match to continue on this model. */
  identity(): ModelIdentity {
    const m = this.requireModel();
    return { architecture: m.config.architecture, parameters: m.parameterCount, layers: m.config.layers, vocabSize: m.config.vocabSize };
  }

  /** One dense loss-and-gradient pass on the first window: the baseline the memory chart draws. */
  private async measureBaseline(dm: DeviceModel, settings: TrainSettings, batch: number[][]): Promise<void> {
    const dense = await Trainer.create(dm, dm.model, this.loraFor(settings), { seed: settings.seed });
    this.rt.memory.resetPeaks();
    const { grads } = await dense.lossAndGrads(batch);
    for (const g of grads.values()) this.rt.dispose(g);
    const m = this.rt.memory;
    this.emit({ type: 'baseline', peakTotal: m.peakTotal, peakSplit: { ...m.peakSplit }, source: 'a dense step on the first window, measured by the accountant' });
    dense.dispose();
  }

  /** Read through a method: pause and stop arrive while train() awaits. */
  private current(): 'run' | 'pause' | 'stop' {
    return this.control;
  }

  setControl(action: 'pause' | 'resume' | 'stop'): void {
    this.control = action === 'resume' ? 'run' : action;
    if (action !== 'pause' && this.wake) {
      this.wake();
      this.wake = null;
    }
  }

  /** Runs the benchmark on this session's model (see train/bench.ts). */
  async bench(docs: Document[], plan: Omit<BenchPlan, 'lora'> & { lora: Pick<TrainSettings, 'loraR' | 'loraAlpha' | 'targetModules'> }, onRow: (r: BenchRow) => void): Promise<BenchRow[]> {
    return benchmark(await this.deviceModel(), this.tokenize(docs), { ...plan, lora: this.loraFor(plan.lora) }, onRow);
  }

  get config() {
    return this.requireModel().config;
  }

  /** The trained adapter in PEFT's format. */
  async exportAdapter(baseModel: string): Promise<{ config: string; weights: Uint8Array }> {
    if (!this.trainer) throw new UserError('Nothing has been trained yet.');
    return {
      config: adapterConfigJson(this.trainer.lora, this.requireModel().config, baseModel),
      weights: adapterSafetensors(await this.trainer.adapterTensors()),
    };
  }

  /**
   * The trained run as a folder: 'adapter' is PEFT's two files (and predictors.safetensors when
   * the session has predictors), 'merged' the base model with the adapter folded in, with the
   * config, tokenizer and RoPE scale it trained with.
   */
  async exportFolder(kind: 'adapter' | 'merged', baseModel: string): Promise<FolderFile[]> {
    if (!this.trainer || !this.files) throw new UserError('Nothing has been trained yet: run training first, then export.');
    const enc = new TextEncoder();
    if (kind === 'adapter') {
      const a = await this.exportAdapter(baseModel);
      const files = [{ name: 'adapter_config.json', bytes: enc.encode(a.config) }, { name: 'adapter_model.safetensors', bytes: a.weights }];
      const predictors = (this as { predictorsBytes?: () => Uint8Array | null }).predictorsBytes?.();
      if (predictors) files.push({ name: 'predictors.safetensors', bytes: predictors });
      return files;
    }
    const f = this.files;
    const ropeScale = this.requireModel().config.rope?.linearFactor ?? 1;
    const original = (f.config as { rope_parameters?: { factor?: number }; rope_scaling?: { factor?: number } | null });
    const configured = original.rope_parameters?.factor ?? original.rope_scaling?.factor ?? 1;
    const merged = mergeAdapter(f, this.trainer.lora, await this.trainer.adapterTensors(), { ropeScale: ropeScale === configured ? 1 : ropeScale });
    if (f.tokenizer) merged.push({ name: 'tokenizer.json', bytes: enc.encode(JSON.stringify(f.tokenizer)) });
    if (f.tokenizerConfig && Object.keys(f.tokenizerConfig as object).length) merged.push({ name: 'tokenizer_config.json', bytes: enc.encode(JSON.stringify(f.tokenizerConfig, null, 2)) });
    return merged;
  }

  /** Tunes per-layer elimination thresholds on windows of ctx tokens of the frozen model, with an optional adapter (sparsity/policy-tune.ts). */
  async tunePolicy(docs: Document[], ctx: number, windowCount: number, plan: TunePlan, onProgress: (p: TuneProgress) => void, adapter?: AdapterFiles): Promise<TuneResult> {
    const model = this.requireModel();
    checkContext(model.config, ctx);
    const cal = calibrationWindows(windows(this.tokenize(docs), ctx), windowCount);
    const lora = adapter ? parseAdapterConfig(adapter.config) : this.loraFor({ loraR: 1, loraAlpha: 1, targetModules: [] });
    const trainer = await Trainer.create(await this.deviceModel(), model, lora, { adapter: adapter && readSafetensors(adapter.weights, 'adapter_model.safetensors') });
    try {
      return await tunePolicy(trainer, cal, plan, onProgress);
    } finally {
      trainer.dispose();
    }
  }

  /** Perplexity over documents, with the base model, a given adapter, or the one just trained. */
  async evaluate(docs: Document[], ctx: number, adapter?: AdapterFiles | 'trained', onChunk?: (done: number, total: number) => void): Promise<EvalResult> {
    const model = this.requireModel();
    checkContext(model.config, ctx);
    let trainer: Trainer;
    if (adapter === 'trained') {
      if (!this.trainer) throw new UserError('Nothing has been trained yet.');
      trainer = this.trainer;
    } else if (adapter) {
      trainer = await Trainer.create(await this.deviceModel(), model, parseAdapterConfig(adapter.config), {
        adapter: readSafetensors(adapter.weights, 'adapter_model.safetensors'),
      });
    } else {
      // B = 0: the base model exactly.
      trainer = await Trainer.create(await this.deviceModel(), model, this.loraFor({ loraR: 1, loraAlpha: 1, targetModules: [] }));
    }
    return perplexity(trainer, this.tokenize(docs), ctx, onChunk);
  }
}

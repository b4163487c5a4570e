// One engine instance as the shells see it: load a model (and predictors), then run, evaluate,
// benchmark and export through run/ and export/. Knows nothing of workers, DOM or files.
import type { EngineEvent, ModelSummary } from './events';
import { UserError } from './errors';
import { checkContext, parseConfig } from './model/config';
import { settingsLora, type LoraConfig } from './model/lora';
import { loadModel, lookupTableNames, modelSummary, type Model } from './model/model';
import { checkFits, predictLoadBytes, type MemoryBudget } from './model/safetensors';
import { modelTokenizer, TokenCache } from './model/tokenizer';
import { weightsHash } from './model/weights-hash';
import { weightSet } from './model/weights';
import type { Runtime } from './runtime/runtime';
import { DEFAULT_SETTINGS, type TrainSettings } from './settings';
import type { LayerPolicy } from './sparsity/policy';
import { LoadedPredictors, type PredictorSummary } from './sparsity/loaded';
import type { DevicePredictors } from './sparsity/predictor';
import { predictorRecall, trainPredictors, type PredictorProgress, type PredictorTrainPlan } from './sparsity/predictor-train';
import { parseKeepSpec } from './sparsity/blocks';
import { selectorFor, sparsityOf, type Sparsity } from './sparsity/selectors';
import { calibratePredicted } from './sparsity/policy-calibrate';
import { calibrationWindows, tunePolicy, type TunePlan, type TuneProgress, type TuneResult } from './sparsity/policy-tune';
import { modelPolicyOf, type PolicyFile } from './sparsity/run-policy';
import { windows, type Document } from './train/data';
import { DeviceModel } from './train/device-model';
import { Trainer, type SegmentRows } from './train/trainer';
import { benchmark, type BenchPlan, type BenchRow } from './run/bench';
import { perplexity, type EvalResult } from './run/evaluate';
import { generateText, stopIds, type GeneratePlan } from './run/generate';
import { gradients } from './run/gradients';
import { RunControl } from './run/loop';
import { checkBenchPlan, checkSparsityBlock, checkStepFits, forecastRefusal } from './run/limits';
import { prepareRun, startRun, trainerOf, type PreparedRun } from './run/start';
import type { AdapterFiles, HeldOut, RunOptions } from './run/options';
import { adapterFiles, adapterFolder, mergedFolder, type LoadedFolder } from './export/folder';
import type { FolderFile } from './export/merged';

export { DEFAULT_SETTINGS, type TrainSettings } from './settings';

type LoraSettings = Pick<TrainSettings, 'loraR' | 'loraAlpha' | 'targetModules'>;
/** A LoRA of rank 1 whose B is zero: the base model exactly. */
const BASE: LoraSettings = { loraR: 1, loraAlpha: 1, targetModules: [] };

export class EngineSession {
  private model: Model | null = null;
  private files: LoadedFolder | null = null; // the loaded folder as given, for the merged export
  private tokens: TokenCache | null = null;
  private trainer: Trainer | null = null;
  private device: DeviceModel | null = null;
  private predictors: LoadedPredictors | null = null;
  private modelPolicy: PolicyFile | null = null; // the folder's policy.json: the model's default keep policy
  private budget: MemoryBudget | undefined; // what the model was loaded under: a run's step is checked against it too
  private control = new RunControl();

  constructor(readonly rt: Runtime, private emit: (e: EngineEvent) => void) {}

  /**
   * Loads a model folder. Before any tensor is read: the memory forecast of the load from the
   * headers, with `step` (a run's batch and context, when known) of a training step beside it, and
   * the tokenizer and policy.json against the config.
   */
  loadModel(files: LoadedFolder, opts: { ropeScale?: number; memoryBudget?: MemoryBudget; step?: { batch: number; ctx: number; offload?: TrainSettings['offload'] } } = {}): ModelSummary {
    const weights = weightSet(files.weights, files.index);
    const cfg = parseConfig(files.config);
    checkFits(weights.files, opts.memoryBudget, undefined, lookupTableNames(cfg));
    if (opts.step) checkStepFits({ cfg, weightBytes: predictLoadBytes(weights.files).held, budget: opts.memoryBudget }, opts.step.batch, opts.step.ctx, opts.step.offload);
    // The tokenizer and policy.json are checked before the weights are read too.
    const tokenizer = files.tokenizer ? modelTokenizer(files.tokenizer, files.tokenizerConfig, cfg.vocabSize) : null;
    const policy = modelPolicyOf(files.policy, cfg.layers);
    const model = loadModel(files, opts.ropeScale);
    // Replace only once everything loaded: a bad file leaves the previous model in place.
    for (const held of [this.trainer, this.device, this.predictors]) held?.dispose();
    [this.model, this.files, this.tokens, this.trainer, this.device, this.predictors, this.modelPolicy, this.budget] = [model, files, tokenizer && new TokenCache(tokenizer), null, null, null, policy, opts.memoryBudget];
    return { ...modelSummary(model), policy };
  }

  /** Loads a predictors file for the lemo mode; a bad file leaves the previous predictors in place. */
  loadPredictors(bytes: Uint8Array, fileName = 'predictors.safetensors'): PredictorSummary {
    const loaded = LoadedPredictors.fromBytes(bytes, fileName, this.requireModel().config);
    this.predictors?.dispose();
    this.predictors = loaded;
    return loaded.summary(bytes.byteLength);
  }

  /** The loaded (or just trained) predictors as a file, or null. */
  predictorsBytes(): Uint8Array | null {
    return this.predictors?.set.toBytes() ?? null;
  }

  /**
   * The sparsity of these settings, with the predictors on the device when lemo asks for them;
   * `keep` ({"block": b, "layers": [...]}, for sequences of T tokens) forces the kept blocks instead.
   */
  async sparsityFor(settings: TrainSettings, keep?: { json: unknown; T: number }): Promise<Sparsity> {
    const cfg = this.requireModel().config;
    if (keep) return sparsityOf(settings, cfg.layers, { keep: parseKeepSpec(keep.json, cfg.layers, keep.T) });
    const predictors = settings.sparsity === 'lemo' ? await this.predictors?.onDevice(this.rt, cfg) : undefined;
    return sparsityOf(settings, cfg.layers, { predictors, modelPolicy: this.modelPolicy });
  }

  /** The loaded predictors' recall per layer on held-out windows of ctx tokens (see predictorRecall). */
  async predictorRecall(heldout: Document[], ctx: number, windowCount: number, policy: LayerPolicy[]): Promise<(number | null)[]> {
    const evalWindows = windows(this.tokenize(heldout), ctx).slice(0, windowCount);
    if (evalWindows.length === 0) throw new UserError(`No held-out document has ${ctx} tokens.`);
    return this.withPredictors((trainer, dp) => predictorRecall(trainer, dp, evalWindows, policy));
  }

  /** A threshold policy calibrated to the loaded predictors on windows of ctx tokens (sparsity/policy-calibrate.ts). */
  async calibratePolicy(docs: Document[], ctx: number, windowCount: number, policy: LayerPolicy[], target: number) {
    return this.withPredictors((t, dp) => calibratePredicted(t, dp, calibrationWindows(windows(this.tokenize(docs), ctx), windowCount), policy, target));
  }

  /** Trains pattern predictors on the frozen base model (LEMO.md 3); they become this session's predictors. */
  async trainPredictors(train: Document[], heldout: Document[], plan: PredictorTrainPlan, onProgress: (p: PredictorProgress) => void): Promise<PredictorSummary> {
    const set = await this.withTrainer((trainer) => trainPredictors(trainer, this.tokenize(train), this.tokenize(heldout), plan, onProgress));
    this.predictors?.dispose();
    this.predictors = new LoadedPredictors(set);
    return this.predictors.summary();
  }

  /** Tunes per-layer elimination thresholds on windows of ctx tokens, with the base model or an adapter (sparsity/policy-tune.ts). */
  async tunePolicy(docs: Document[], ctx: number, windowCount: number, plan: TunePlan, onProgress: (p: TuneProgress) => void, adapter?: AdapterFiles): Promise<TuneResult> {
    checkContext(this.requireModel().config, ctx);
    const cal = calibrationWindows(windows(this.tokenize(docs), ctx), windowCount);
    return this.withTrainer((trainer) => tunePolicy(trainer, cal, plan, onProgress), adapter);
  }

  /** A trainer of the base model (or with an adapter, or a fresh LoRA) for a while on this session's device model, freed after. */
  private async withTrainer<T>(use: (t: Trainer) => Promise<T>, adapter?: AdapterFiles, lora: LoraSettings & { seed?: number } = BASE, rows: SegmentRows = {}): Promise<T> {
    const trainer = await this.trainerOf(adapter, lora, rows);
    try {
      return await use(trainer);
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

  private async withPredictors<T>(use: (t: Trainer, dp: DevicePredictors) => Promise<T>): Promise<T> {
    if (!this.predictors) throw new UserError('No predictors are loaded.');
    const dp = await this.predictors.onDevice(this.rt, this.requireModel().config);
    return this.withTrainer((t) => use(t, dp));
  }

  loraFor(settings: LoraSettings): LoraConfig {
    return settingsLora(settings, this.requireModel().config);
  }

  private async trainerOf(adapter: AdapterFiles | undefined, lora: LoraSettings & { seed?: number }, rows: SegmentRows = {}): Promise<Trainer> {
    return trainerOf(await this.deviceModel(), adapter, this.loraFor(lora), lora.seed, rows);
  }

  /** Loss and LoRA gradients for given ids (checks against references), dense or as the sparsity selects; `rows` fixes segment and chunk sizes. */
  async grad(inputIds: number[][], adapter?: AdapterFiles, lora?: LoraSettings & { seed: number }, sparsity: Sparsity = { mode: 'dense' }, rows: SegmentRows = {}) {
    checkSparsityBlock(sparsity, inputIds[0]?.length ?? 0);
    const selector = selectorFor(sparsity, this.requireModel().config.layers);
    return this.withTrainer(async (trainer) => ({ ...(await gradients(trainer, inputIds, selector)), kept: selector.last?.kept ?? null }), adapter, lora ?? DEFAULT_SETTINGS, rows);
  }

  /** Token ids per document (texts seen before are not encoded again; progress events when it takes a while); treat the ids as read-only. */
  tokenize(docs: Document[]): number[][] {
    if (!this.tokens) throw new UserError('This model has no tokenizer.json, so text cannot be tokenized.');
    return this.tokens.encodeAll(docs.map((d) => d.text), (done, total) => this.emit({ type: 'tokenizing', done, total }));
  }

  /** Trains on documents until the step count, or until stopped; emits a step event per step (see run/). */
  async train(docs: Document[], given: TrainSettings, heldout?: HeldOut, options: RunOptions = {}): Promise<{ steps: number; lastLoss: number }> {
    const { settings, forecast, restoreRope } = this.forecast(given, true);
    const { run, trainer } = await startRun({
      docs, settings, heldout, options, denseRefusal: forecastRefusal(forecast, 'dense'), tokenize: (d) => this.tokenize(d), tokenizer: this.tokens?.tokenizer ?? null, lora: () => this.loraFor(settings),
      // Asked for once the data is read: the last run's adapter and optimizer state are freed then (refused data leaves them).
      device: async () => { this.trainer?.dispose(); this.trainer = null; return this.deviceModel(); },
      sparsity: () => this.sparsityFor(settings), weightsHash: () => weightsHash(weightSet(this.files!.weights, this.files!.index)),
    }, this.control, this.emit).catch(restoreRope);
    this.trainer = trainer;
    return run.loop();
  }

  /** A run's settings checked, with its memory forecast (run/start.ts prepareRun); with `run`, the run's RoPE scale stays set and the forecast must fit. */
  forecast(given: TrainSettings, run = false): PreparedRun {
    return prepareRun(given, { model: this.requireModel(), rt: this.rt, budget: this.budget, predictors: this.predictors?.set ?? null, modelPolicy: this.modelPolicy }, run);
  }

  setControl(action: 'pause' | 'resume' | 'stop'): void {
    this.control.set(action);
  }

  /** Runs the benchmark on this session's model (see run/bench.ts). */
  async bench(docs: Document[], plan: Omit<BenchPlan, 'lora'> & { lora: LoraSettings }, onRow: (r: BenchRow) => void): Promise<BenchRow[]> {
    checkBenchPlan(plan);
    return benchmark(await this.deviceModel(), this.tokenize(docs), { ...plan, lora: this.loraFor(plan.lora) }, onRow);
  }

  get config() {
    return this.requireModel().config;
  }

  /** The trained adapter in PEFT's format. */
  async exportAdapter(baseModel: string): Promise<{ config: string; weights: Uint8Array }> {
    if (!this.trainer) throw new UserError('Nothing has been trained yet.');
    return adapterFiles(this.trainer.lora, this.requireModel().config, baseModel, await this.trainer.adapterTensors());
  }

  /** The trained run as a folder: 'adapter' (with the predictors when there are some) or 'merged' (see export/folder.ts). */
  async exportFolder(kind: 'adapter' | 'merged', baseModel: string): Promise<FolderFile[]> {
    if (!this.trainer || !this.files) throw new UserError('Nothing has been trained yet: run training first, then export.');
    if (kind === 'adapter') return adapterFolder(await this.exportAdapter(baseModel), this.predictorsBytes());
    return mergedFolder(this.files, this.requireModel().config, this.trainer.lora, await this.trainer.adapterTensors());
  }

  /**
   * Continues text with the base model, an adapter, or the one trained here, token by token
   * (run/generate.ts); onText hears the text added so far after each token (false stops).
   */
  async generate(prompt: string, plan: Omit<GeneratePlan, 'stop'>, onText: (text: string) => boolean | void, adapter?: AdapterFiles | 'trained'): Promise<string> {
    if (!this.tokens) throw new UserError('This model has no tokenizer.json, so text cannot be tokenized.');
    const [tokenizer, stop] = [this.tokens.tokenizer, stopIds(this.files!.config)];
    const run = (t: Trainer) => generateText(t, tokenizer, prompt, { ...plan, stop }, onText);
    if (adapter !== 'trained') return this.withTrainer(run, adapter);
    if (!this.trainer) throw new UserError('Nothing has been trained yet.');
    return run(this.trainer);
  }

  async evaluate(docs: Document[], ctx: number, adapter?: AdapterFiles | 'trained', onChunk?: (done: number, total: number) => void): Promise<EvalResult> {
    checkContext(this.requireModel().config, ctx);
    if (adapter === 'trained' && !this.trainer) throw new UserError('Nothing has been trained yet.');
    if (adapter === 'trained') return perplexity(this.trainer!, this.tokenize(docs), ctx, onChunk);
    return this.withTrainer((trainer) => perplexity(trainer, this.tokenize(docs), ctx, onChunk), adapter);
  }
}

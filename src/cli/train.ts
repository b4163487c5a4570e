// lemo train: a LoRA fine-tune from a dataset file (dense, oracle or lemo); the adapter is written in PEFT's format.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SETTINGS, RunStopped, UserError, type EngineEvent, type EngineSession, type TrainSettings } from '../engine/node';
import { checkNotModelDir, checkOutput, ensureDir, writeFile } from './files';
import { DEFAULT_DATA_FILE, DEFAULT_MODEL_DIR, int, num, openSession, readDataset } from './session';
import { checkpointDir, lockCheckpointDir, readCheckpointDir, type RunFiles } from './checkpoint-dir';
import { copiedFiles, writeFolder } from './export';
import { withSpillDir } from './spill-dir';
import { attentionSettings, loadPredictors, policyJson, policySettings, type SparsityFlags } from './sparsity-options';

export interface TrainOptions extends SparsityFlags {
  recallEvery?: string;
  offload?: TrainSettings['offload'];
  model?: string;
  data?: string;
  ctx?: string;
  steps?: string;
  checkpointDir?: string;
  checkpointEvery?: string;
  resume?: string;
  out: string;
  lr: string;
  schedule: string;
  warmup: string;
  weightDecay: string;
  loraR: string;
  loraAlpha: string;
  targetModules?: string;
  ropeScale?: string;
  mergedOut?: string;
  seed: string;
  batch: string;
  threads: string;
  backend: string;
}

export interface TrainFlags {
  /** --sparsity was not given, so a model folder without predictors trains with the oracle. */
  modeDefaulted?: boolean;
  /** Whether an option was given on the command line (not its default); without it, whether it is set. */
  given?: (option: keyof TrainOptions) => boolean;
}

type Resumed = ReturnType<typeof readCheckpointDir>;

/** The options that would change a resumed run, each parsed as a new run parses it, beside the run's value. */
function resumeFlags(o: TrainOptions, resumed: Resumed): [keyof TrainOptions, string, () => unknown, unknown][] {
  const s = resumed.checkpoint.run.settings;
  return [
    ['ctx', '--ctx', () => int(o.ctx!, 'ctx', 2), s.ctx],
    ['lr', '--lr', () => num(o.lr, 'lr'), s.lr],
    ['schedule', '--schedule', () => o.schedule, s.schedule],
    ['warmup', '--warmup', () => int(o.warmup, 'warmup', 0), s.warmup],
    ['weightDecay', '--weight-decay', () => num(o.weightDecay, 'weight-decay'), s.weightDecay],
    ['batch', '--batch', () => int(o.batch, 'batch'), s.batch],
    ['loraR', '--lora-r', () => int(o.loraR, 'lora-r'), s.loraR],
    ['loraAlpha', '--lora-alpha', () => num(o.loraAlpha, 'lora-alpha'), s.loraAlpha],
    ['targetModules', '--target-modules', () => o.targetModules!.split(',').map((x) => x.trim()), s.targetModules],
    ['seed', '--seed', () => int(o.seed, 'seed', 0), s.seed],
    ['sparsity', '--sparsity', () => o.sparsity, s.sparsity],
    ['block', '--block', () => int(o.block!, 'block'), s.block],
    ['policy', '--policy', () => policyJson(o.policy!), s.policy],
    ['mlpKeep', '--mlp-keep', () => num(o.mlpKeep, 'mlp-keep'), s.mlpKeep],
    ['attention', '--attention', () => o.attention, s.attention],
    ['group', '--group', () => int(o.group!, 'group', 2), s.group],
    ['recallEvery', '--recall-every', () => int(o.recallEvery!, 'recall-every', 0), s.recallEvery],
    ['ropeScale', '--rope-scale', () => num(o.ropeScale, 'rope-scale'), resumed.files.ropeScale ?? 1],
  ];
}

/** Refuses options given with --resume that contradict the run (those left out take the run's values). */
function checkResumeFlags(o: TrainOptions, resumed: Resumed, given: (option: keyof TrainOptions) => boolean): void {
  const show = (v: unknown) => (Array.isArray(v) ? (v.length ? JSON.stringify(v) : 'the default') : String(v));
  const clash = resumeFlags(o, resumed).filter(([key, , value, run]) => given(key) && JSON.stringify(value()) !== JSON.stringify(run));
  if (clash.length === 0) return;
  const asked = clash.map(([key, flag]) => `${flag} ${o[key]}`).join(', ');
  const runs = clash.map(([, flag, , run]) => `${flag.slice(2)} ${show(run)}`).join(', ');
  throw new UserError(`${asked} ${clash.length > 1 ? 'contradict' : 'contradicts'} the run in ${o.resume}, which trains with ${runs}: leave ${clash.length > 1 ? 'these options' : 'it'} out to continue the run as it was, or start a new run without --resume.`);
}

/** Refuses, before anything is loaded, output places that could not be written after the last step. */
function checkOutputs(o: TrainOptions, modelDir: string): void {
  checkOutput(o.out, '--out', 'folder');
  if (o.mergedOut) {
    checkOutput(o.mergedOut, '--merged-out', 'folder');
    checkNotModelDir(o.mergedOut, modelDir, '--merged-out');
  }
  if (o.checkpointDir) checkOutput(o.checkpointDir, '--checkpoint-dir', 'folder');
}

export async function trainCommand(o: TrainOptions, flags: TrainFlags = {}): Promise<void> {
  const resumed = o.resume ? readCheckpointDir(o.resume) : null;
  const files: RunFiles = { data: o.data ?? resumed?.files.data ?? DEFAULT_DATA_FILE, model: o.model ?? resumed?.files.model ?? DEFAULT_MODEL_DIR, ropeScale: o.ropeScale !== undefined ? num(o.ropeScale, 'rope-scale') : resumed?.files.ropeScale };
  if (resumed) checkResumeFlags(o, resumed, flags.given ?? ((k) => o[k] !== undefined));
  checkOutputs(o, files.model);
  const dir = o.checkpointDir ?? o.resume;
  const unlock = dir ? lockCheckpointDir(dir) : () => {};
  try {
    await train(o, flags, files, resumed, dir);
  } finally {
    unlock();
  }
}

async function train(o: TrainOptions, flags: TrainFlags, files: RunFiles, resumed: Resumed | null, dir: string | undefined): Promise<void> {
  const started = Date.now();
  const run = resumed?.checkpoint.run.settings;
  const offload = o.offload ?? run?.offload ?? DEFAULT_SETTINGS.offload;
  const step = run ? { batch: run.batch, ctx: run.ctx, offload } : { batch: int(o.batch, 'batch'), ctx: int(o.ctx ?? String(DEFAULT_SETTINGS.ctx), 'ctx', 2), offload };
  const { session, name, summary } = await openSession(files.model, o, { ropeScale: files.ropeScale, policy: true, onEvent: report, step });
  const docs = readDataset(files.data);
  const sparsity = (o.sparsity ?? DEFAULT_SETTINGS.sparsity) as TrainSettings['sparsity'];
  const policy = resumed || sparsity === 'dense' ? null : policySettings(o, { dir: files.model, policy: summary.policy }, summary.layers);
  const settings: TrainSettings = resumed ? { ...resumed.checkpoint.run.settings, offload, steps: o.steps ? int(o.steps, 'steps') : resumed.checkpoint.run.settings.steps } : {
    ...DEFAULT_SETTINGS,
    ctx: int(o.ctx ?? String(DEFAULT_SETTINGS.ctx), 'ctx', 2),
    steps: int(o.steps ?? String(DEFAULT_SETTINGS.steps), 'steps'),
    batch: int(o.batch, 'batch'),
    lr: num(o.lr, 'lr')!,
    schedule: o.schedule as TrainSettings['schedule'],
    warmup: int(o.warmup, 'warmup', 0),
    weightDecay: num(o.weightDecay, 'weight-decay')!,
    loraR: int(o.loraR, 'lora-r'),
    loraAlpha: num(o.loraAlpha, 'lora-alpha')!,
    targetModules: o.targetModules ? o.targetModules.split(',').map((s) => s.trim()) : [],
    seed: int(o.seed, 'seed', 0),
    sparsity,
    block: policy?.block ?? int(o.block ?? String(DEFAULT_SETTINGS.block), 'block'),
    policy: policy?.policy ?? null,
    mlpKeep: policy?.mlpKeep ?? num(o.mlpKeep, 'mlp-keep') ?? null,
    recallEvery: o.recallEvery ? int(o.recallEvery, 'recall-every', 0) : 0,
    offload,
    ...attentionSettings(o),
  };
  if (settings.sparsity === 'lemo' && flags.modeDefaulted && !o.predictors && !existsSync(join(files.model, 'predictors.safetensors'))) {
    settings.sparsity = 'oracle';
    process.stderr.write(`${files.model} has no predictors.safetensors: training with the oracle's block scores (--sparsity oracle).\n`);
  }
  if (settings.sparsity === 'lemo') {
    const { path, summary: p } = loadPredictors(o, files.model, session);
    process.stderr.write(`predictors: ${path} (${p.parameters} parameters, block ${p.block})\n`);
  }
  if (o.checkpointEvery !== undefined) settings.checkpointEvery = int(o.checkpointEvery, 'checkpoint-every');
  const save = dir ? checkpointDir(dir, files, dir === o.resume ? resumed?.checkpoint.run.step : 0) : undefined;
  let result: { steps: number; lastLoss: number };
  try {
    const options = { resume: resumed?.checkpoint, onCheckpoint: save };
    result = await (offload === 'disk' ? withSpillDir((spill) => session.train(docs, settings, undefined, { ...options, spill })) : session.train(docs, settings, undefined, options));
  } catch (e) {
    if (e instanceof RunStopped) throw await keptAdapter(e, o, session, name, files.model);
    throw e;
  }
  await writeOutputs(o, session, name, files.model);
  process.stdout.write(`${JSON.stringify({ steps: result.steps, loss: result.lastLoss, seconds: (Date.now() - started) / 1000, out: o.out })}\n`);
}

function report(e: EngineEvent): void {
  if (e.type === 'step') {
    process.stderr.write(`step ${e.step}/${e.totalSteps}  loss ${e.loss.toFixed(4)}  lr ${e.lr?.toPrecision(3)}  grad norm ${e.gradNorm?.toPrecision(4)}  ${Math.round(e.tokensPerSecond)} tok/s  ${Math.round(e.ms)} ms\n`);
  } else if (e.type === 'dataset') {
    process.stderr.write(`dataset: ${e.summary.documents} documents, ${e.summary.tokens} tokens, ${e.summary.windows} windows of ${e.summary.ctx}\n`);
  } else if (e.type === 'skipped') {
    process.stderr.write(`${e.message}\n`);
  } else if (e.type === 'checkpoint') {
    process.stderr.write(`checkpoint after step ${e.step}: ${e.bytes} bytes in ${Math.round(e.ms)} ms\n`);
  } else if (e.type === 'resumed') {
    process.stderr.write(`resuming after step ${e.step}\n`);
  }
}

/** The adapter (and the merged model when asked for) in the output folders. */
async function writeOutputs(o: TrainOptions, session: EngineSession, name: string, modelDir: string): Promise<void> {
  const adapter = await session.exportAdapter(name);
  ensureDir(o.out);
  writeFile(join(o.out, 'adapter_config.json'), adapter.config);
  writeFile(join(o.out, 'adapter_model.safetensors'), adapter.weights);
  if (o.mergedOut) {
    const merged = (await session.exportFolder('merged', name)).filter((f) => f.name === 'config.json' || f.name === 'model.safetensors');
    writeFolder(o.mergedOut, [...merged, ...copiedFiles(modelDir)]);
  }
}

/** A run that stopped between steps: its adapter as of the last good step is written, and the sentence says so. */
async function keptAdapter(e: RunStopped, o: TrainOptions, session: EngineSession, name: string, modelDir: string): Promise<UserError> {
  if (e.lastGoodStep === 0) return new UserError(`${e.message} No step was applied, so no adapter was written to ${o.out}.`);
  try {
    await writeOutputs(o, session, name, modelDir);
  } catch (w) {
    return new UserError(`${e.message} The adapter of step ${e.lastGoodStep} could not be written to ${o.out} either (${(w as Error).message}).`);
  }
  const where = o.mergedOut ? `${o.out} (and the merged model to ${o.mergedOut})` : o.out;
  return new UserError(`${e.message} The adapter as it was after step ${e.lastGoodStep} was written to ${where}.`);
}

// lemo predictors train: pattern predictors for a model, trained on the frozen base model
// against the oracle's tile maps; progress on stderr, the file at --out, a JSON summary on stdout.
import { dirname } from 'node:path';
import { resolve } from 'node:path';
import { defaultSizes, meanRecall, PREDICTOR_DEFAULTS, PredictorSet, UserError, type PredictorProgress } from '../engine/node';
import { checkOutput, ensureDir, writeFile } from './files';
import { DEFAULT_DATA_FILE, DEFAULT_HELDOUT_FILE, int, num, openSession, readDataset } from './session';
import { policySettings, predictorsFile } from './sparsity-options';
import { readBytes } from './files';

export interface PredictorsTrainOptions {
  model: string;
  data?: string;
  heldout?: string;
  ctx: string;
  steps: string;
  out: string;
  block: string;
  blockGiven?: boolean;
  arch: 'pool' | 'flat';
  init?: string;
  objective: 'scores' | 'tiles';
  r1?: string;
  r2?: string;
  embed?: string;
  lr: string;
  prune: string;
  pruneAt?: string;
  evalEvery: string;
  evalWindows: string;
  policy?: string;
  layers?: string;
  ropeScale?: string;
  seed: string;
  threads: string;
  backend: string;
}

const pct = (x: number | null) => (x === null ? '  –  ' : `${(100 * x).toFixed(1)}%`);

export async function predictorsTrainCommand(o: PredictorsTrainOptions): Promise<void> {
  const started = Date.now();
  checkOutput(o.out, '--out', 'file');
  const ctx = int(o.ctx, 'ctx', 2);
  const { session, name, summary: model } = await openSession(o.model, o, { ropeScale: num(o.ropeScale, 'rope-scale'), policy: true });
  const cfg = session.config;
  if (cfg.rope && o.ropeScale === undefined && ctx > cfg.maxPositions) {
    throw new UserError(`${ctx} tokens exceed the model's ${cfg.maxPositions} positions; pass --rope-scale ${Math.ceil(ctx / cfg.maxPositions)}.`);
  }
  const train = readDataset(o.data ?? DEFAULT_DATA_FILE);
  const heldoutPath = o.heldout ?? (o.data ? resolve(dirname(o.data), 'heldout.jsonl') : DEFAULT_HELDOUT_FILE);
  const heldout = readDataset(heldoutPath);
  // The block of --block, else of the policy recall is measured under (policy.json's, or the default).
  const { run } = policySettings(o, { dir: o.model, policy: model.policy }, cfg.layers);
  const block = run.block;
  const d = defaultSizes(cfg, block, o.arch);
  const sizes = { r1: o.r1 ? int(o.r1, 'r1') : d.r1, r2: o.r2 ? int(o.r2, 'r2') : d.r2, embed: o.embed ? int(o.embed, 'embed') : d.embed };
  const policy = run.policy;
  const layers = o.layers ? o.layers.split(',').map((l) => int(l.trim(), 'layers', 0)) : undefined;
  if (layers?.some((l) => l >= cfg.layers)) throw new UserError(`--layers: this model has layers 0..${cfg.layers - 1}.`);
  process.stderr.write(`predictors for ${name}: ${o.arch}, objective ${o.objective}, ctx ${ctx}, block ${block}, r1 ${sizes.r1}, r2 ${sizes.r2}, embed ${sizes.embed}, ${o.steps} steps (${o.backend})\n`);
  const onProgress = (p: PredictorProgress) => {
    if (p.type === 'step') {
      process.stderr.write(`step ${p.step}/${p.steps}  loss ${p.loss.toFixed(4)}  ${Math.round(p.ms)} ms\n`);
    } else if (p.type === 'prune') {
      process.stderr.write(`elastic pruning after step ${p.step}: ${p.parametersBefore} → ${p.parametersAfter} parameters\n`);
    } else {
      process.stderr.write(`recall after step ${p.step} (${p.windows} held-out windows): ${p.recall.map(pct).join(' ')}  mean ${pct(p.mean)}\n`);
    }
  };
  const summary = await session.trainPredictors(train, heldout, {
    ctx, steps: int(o.steps, 'steps'), block, sizes, lr: num(o.lr, 'lr')!, seed: int(o.seed, 'seed', 0),
    prune: num(o.prune, 'prune')!, pruneAt: o.pruneAt ? int(o.pruneAt, 'prune-at') : undefined,
    evalEvery: int(o.evalEvery, 'eval-every', 0), evalWindows: int(o.evalWindows, 'eval-windows', 0), policy, layers, arch: o.arch, objective: o.objective,
    init: o.init ? PredictorSet.fromBytes(readBytes(o.init, 'predictors file'), o.init) : undefined,
  }, onProgress);
  ensureDir(dirname(resolve(o.out)));
  writeFile(o.out, session.predictorsBytes()!);
  const recall = summary.recall;
  process.stdout.write(`${JSON.stringify({ out: o.out, parameters: summary.parameters, bytes: summary.bytes, recall, meanRecall: recall ? meanRecall(recall) : null, seconds: (Date.now() - started) / 1000 })}\n`);
}

export interface PredictorsEvalOptions {
  model: string;
  predictors?: string;
  heldout?: string;
  ctx: string;
  windows: string;
  policy?: string;
  ropeScale?: string;
  threads: string;
  backend: string;
}

/** lemo predictors eval: a predictors file's recall per layer on held-out windows. */
export async function predictorsEvalCommand(o: PredictorsEvalOptions): Promise<void> {
  const ctx = int(o.ctx, 'ctx', 2);
  const { session, summary } = await openSession(o.model, o, { ropeScale: num(o.ropeScale, 'rope-scale'), policy: true });
  const path = predictorsFile(o, o.model);
  session.loadPredictors(readBytes(path, 'predictors file'), path);
  const heldout = readDataset(o.heldout ?? DEFAULT_HELDOUT_FILE);
  const started = Date.now();
  const recall = await session.predictorRecall(heldout, ctx, int(o.windows, 'windows'), policySettings(o, { dir: o.model, policy: summary.policy }, summary.layers).run.policy);
  process.stderr.write(`recall at ${ctx} tokens: ${recall.map(pct).join(' ')}  mean ${pct(meanRecall(recall))}\n`);
  process.stdout.write(`${JSON.stringify({ ctx, recall, meanRecall: meanRecall(recall), seconds: (Date.now() - started) / 1000 })}\n`);
}

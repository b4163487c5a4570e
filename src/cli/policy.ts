// lemo policy tune: per-layer elimination thresholds tuned on calibration windows, written as a
// policy file (policy.json in a model folder is then that model's default policy, sparsity/run-policy.ts).
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_SETTINGS, parsePolicy, parsePolicyFile, policyEntry, policyFileJson, UserError, type LayerPolicy, type LayerTuning, type PolicyFile, type TuneProgress } from '../engine/node';
import { checkOutput, ensureDir, POLICY_FILE, readAdapterDir, readJson, writeFile } from './files';
import { DEFAULT_DATA_FILE, int, num, openSession, readDataset } from './session';
import { loadPredictors, policyJson } from './sparsity-options';

export interface PolicyTuneOptions {
  model: string;
  adapter?: string;
  data?: string;
  ctx: string;
  ropeScale?: string;
  windows: string;
  bound: string;
  totalBound?: string;
  step: string;
  max: string;
  layers?: string;
  block: string;
  policy?: string;
  out: string;
  threads: string;
  backend: string;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const rel = (x: number, ref: number) => `${x >= ref ? '+' : ''}${(100 * (x / ref - 1)).toFixed(2)}%`;

export async function policyTuneCommand(o: PolicyTuneOptions): Promise<void> {
  const started = Date.now();
  checkOutput(o.out, '--out', 'file');
  const ctx = int(o.ctx, 'ctx', 2);
  const { session, name } = await openSession(o.model, o, { ropeScale: num(o.ropeScale, 'rope-scale') });
  const cfg = session.config;
  if (cfg.rope && o.ropeScale === undefined && ctx > cfg.maxPositions) {
    throw new UserError(`${ctx} tokens exceed the model's ${cfg.maxPositions} positions; pass --rope-scale ${Math.ceil(ctx / cfg.maxPositions)}.`);
  }
  const L = cfg.layers;
  const layers = o.layers ? o.layers.split(',').map((l) => int(l.trim(), 'layers', 0)) : Array.from({ length: Math.max(0, L - 2) }, (_, i) => i + 1);
  const start: LayerPolicy[] = o.policy ? parsePolicy(policyJson(o.policy), L) : Array(L).fill({ kind: 'dense' });
  const plan = {
    layers, start, block: int(o.block, 'block'), step: num(o.step, 'step')!, max: num(o.max, 'max')!,
    bound: num(o.bound, 'bound')!, totalBound: num(o.totalBound, 'total-bound') ?? null,
  };
  const data = o.data ?? DEFAULT_DATA_FILE;
  const windowCount = int(o.windows, 'windows');
  process.stderr.write(`policy tune ${name}: ctx ${ctx}, block ${plan.block}, ${windowCount} windows, layers ${layers.join(',')}, bound ${plan.bound}${plan.totalBound === null ? '' : `, total bound ${plan.totalBound}`}, step ${plan.step} up to ${plan.max} (${o.backend})\n`);
  let dense = NaN;
  const onProgress = (p: TuneProgress) => {
    if (p.type === 'dense') {
      dense = p.loss;
      process.stderr.write(`dense loss ${p.loss.toFixed(5)}\n`);
    } else if (p.type === 'trial') {
      const t = p.trial;
      if (t.reused && t.kept === 1) return; // below the scores' spread: nothing eliminated yet
      process.stderr.write(`  layer ${p.layer}  factor ${t.factor.toFixed(2)}  kept ${pct(t.kept).padStart(6)}  loss ${t.loss.toFixed(5)} (${rel(t.loss, dense)})${t.reused ? ' same blocks' : ''}${t.loss <= p.limit ? '' : `  over ${p.limit.toFixed(5)}`}\n`);
    } else {
      const u = p.tuning;
      process.stderr.write(`layer ${u.layer}: factor ${u.factor.toFixed(2)}, kept ${pct(u.kept)}, loss ${u.loss.toFixed(5)} (${rel(u.loss, dense)})\n`);
    }
  };
  const r = await session.tunePolicy(readDataset(data), ctx, windowCount, plan, onProgress, o.adapter ? readAdapterDir(o.adapter) : undefined);
  const seconds = (Date.now() - started) / 1000;
  const summary = (u: LayerTuning) => ({ layer: u.layer, factor: u.factor, kept: u.kept, loss: u.loss, reference: u.reference, limit: u.limit, trials: u.trials.length });
  const file: PolicyFile = {
    block: plan.block, ctx, policy: r.policy.map(policyEntry),
    tuned: {
      data, windows: windowCount, bound: plan.bound, totalBound: plan.totalBound, step: plan.step, denseLoss: r.denseLoss, loss: r.loss,
      layers: r.layers.map(summary), max: plan.max, ropeScale: cfg.rope?.linearFactor ?? null, adapter: o.adapter ?? null, forwards: r.forwards, seconds,
    },
  };
  ensureDir(dirname(resolve(o.out)));
  writeFile(o.out, policyFileJson(file));
  process.stderr.write(`wrote ${o.out}: ${JSON.stringify(file.policy)}; loss ${r.loss.toFixed(5)} (${rel(r.loss, r.denseLoss)} over dense) after ${r.forwards} forwards in ${seconds.toFixed(1)} s\n`);
  process.stdout.write(`${JSON.stringify({ out: o.out, policy: file.policy, denseLoss: r.denseLoss, loss: r.loss, layers: r.layers.map(summary), forwards: r.forwards, seconds })}\n`);
}

export interface PolicyCalibrateOptions {
  model: string;
  predictors?: string;
  policy?: string;
  data?: string;
  ctx?: string;
  windows: string;
  recall: string;
  out: string;
  threads: string;
  backend: string;
}

/** lemo policy calibrate: each threshold layer's factor for the predictors' scores, written into the policy file. */
export async function policyCalibrateCommand(o: PolicyCalibrateOptions): Promise<void> {
  const started = Date.now();
  checkOutput(o.out, '--out', 'file');
  const target = num(o.recall, 'recall')!;
  if (!(target > 0 && target <= 1)) throw new UserError(`--recall must be in (0, 1], got ${o.recall}.`);
  const { session, summary } = await openSession(o.model, o, { policy: true });
  const source = o.policy ?? join(o.model, POLICY_FILE);
  const file = o.policy ? parsePolicyFile(readJson(o.policy, 'policy file'), o.policy, summary.layers) : summary.policy;
  if (!file) throw new UserError(`${source} not found: give --policy FILE (a policy file with thresholds, as \`lemo policy tune\` writes).`);
  const layers = parsePolicy(file.policy, summary.layers);
  if (!layers.some((p) => p.kind === 'threshold')) throw new UserError(`${source} has no threshold layer to calibrate.`);
  const { path, summary: p } = loadPredictors(o, o.model, session);
  if (p.block !== file.block) throw new UserError(`The predictors work on blocks of ${p.block} tokens but ${source} was made at ${file.block}.`);
  const ctx = o.ctx ? int(o.ctx, 'ctx', 2) : file.ctx ?? DEFAULT_SETTINGS.ctx;
  const data = o.data ?? DEFAULT_DATA_FILE;
  const windowCount = int(o.windows, 'windows');
  process.stderr.write(`policy calibrate: ${source} with ${path}, recall ${target}, ${windowCount} windows of ${ctx} tokens from ${data}\n`);
  const r = await session.calibratePolicy(readDataset(data), ctx, windowCount, layers, target);
  for (const c of r.layers) {
    process.stderr.write(`layer ${c.layer}: threshold ${c.factor} → predicted ${c.predicted}: recall ${pct(c.recall)}, kept ${pct(c.kept)} (oracle ${pct(c.oracleKept)})\n`);
  }
  const out: PolicyFile = { ...file, policy: r.policy.map(policyEntry), calibrated: { data, windows: windowCount, recall: target, predictors: path, layers: r.layers.map((c) => ({ ...c })) } };
  ensureDir(dirname(resolve(o.out)));
  writeFile(o.out, policyFileJson(out));
  const seconds = (Date.now() - started) / 1000;
  process.stderr.write(`wrote ${o.out} in ${seconds.toFixed(1)} s\n`);
  process.stdout.write(`${JSON.stringify({ out: o.out, policy: out.policy, layers: r.layers, seconds })}\n`);
}

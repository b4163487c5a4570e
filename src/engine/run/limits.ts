// Run settings checked against the model and the memory before a run starts: each setting out
// of range gets a sentence naming it, and nothing is tokenized, uploaded or trained first.
import { UserError } from '../errors';
import { savedActivationBytes } from '../memory/forecast';
import { checkContext, type ModelConfig } from '../model/config';
import type { Model } from '../model/model';
import type { MemoryBudget } from '../model/safetensors';
import type { OffloadMode, SparsityMode, TrainSettings } from '../settings';
import type { RunForecast } from './forecast';
import { checkBlock } from '../sparsity/blocks';
import type { Sparsity } from '../sparsity/selectors';
import { checkLearningRate, checkSchedule } from '../train/adamw';

const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 2 ** 30 ? 2 : 1)} GiB`;

/** The block size a sparsity splits sequences by, and where it comes from; null when dense. */
function sparsityBlock(s: Sparsity): { block: number; source: string } | null {
  if (s.mode === 'dense') return null;
  if (s.mode === 'keep') return { block: s.spec.block, source: "The keep file's block" };
  if (s.mode === 'lemo') return { block: s.predictors.set.config.block, source: "The predictors' block size" };
  return { block: s.block, source: 'The block size (--block)' };
}

/** Refuses a sparsity whose block does not fit sequences of ctx tokens. */
export function checkSparsityBlock(s: Sparsity, ctx: number): void {
  const b = sparsityBlock(s);
  if (b) checkBlock(b.block, ctx, b.source);
}

/** A benchmark's learning rate, and each mode's block against each context. */
export function checkBenchPlan(plan: { lr: number; ctxs: number[]; modes: { sparsity: Sparsity }[] }): void {
  checkLearningRate(plan.lr);
  for (const m of plan.modes) for (const ctx of plan.ctxs) checkSparsityBlock(m.sparsity, ctx);
}

/**
 * Refuses settings a run cannot use: the context (against the model's reach too), steps, batch, learning rate, the block against the
 * context (the memory is checked with the run's forecast, checkRunFits). `settings` are `given` with the model's policy pinned
 * (so a block that came from policy.json is named as such); lemo splits by the predictors' block.
 */
export function checkTrainRun(given: TrainSettings, s: TrainSettings, at: { model: Model; budget?: MemoryBudget; predictorsBlock?: number }): void {
  if (!Number.isInteger(s.ctx) || s.ctx < 2) throw new UserError(`The context (--ctx) must be a whole number of at least 2 tokens, got ${s.ctx}.`);
  checkContext(at.model.config, s.ctx);
  if (!Number.isInteger(s.steps) || s.steps < 1) throw new UserError(`The number of steps (--steps) must be a positive whole number, got ${s.steps}.`);
  if (!Number.isInteger(s.batch) || s.batch < 1) throw new UserError(`The batch (--batch) must be a positive whole number of windows, got ${s.batch}.`);
  checkLearningRate(s.lr);
  checkSchedule(s);
  if (s.sparsity === 'lemo' && at.predictorsBlock !== undefined) checkBlock(at.predictorsBlock, s.ctx, "The predictors' block size");
  else if (s.sparsity !== 'dense') checkBlock(s.block, s.ctx, !given.policy && s.policy ? "The block size of the model's policy.json" : undefined);
}

/**
 * Why a run of these settings would not fit the forecast's budget (null: it fits, or no budget is
 * known), saying what the other mode would take when it fits where this one does not.
 */
export function forecastRefusal(f: RunForecast, mode: SparsityMode): string | null {
  const b = f.budget;
  const run = mode === 'dense' ? f.dense : f.sparse;
  const name = mode === 'dense' ? 'dense' : f.sparse.mode;
  const aRun = `${/^[aeiou]/.test(name) ? 'An' : 'A'} ${name} run of ${f.batch} × ${f.ctx} tokens`;
  // What is over the limit, and what to do: the sparse mode's figure where it fits and dense does not.
  const refuse = (over: string, sparseFits: boolean, sparseBytes: number) =>
    mode === 'dense' && sparseFits
      ? `${over}; with ${f.sparse.mode}'s token elimination it would take about ${gib(sparseBytes)}: choose ${f.sparse.mode}, or lower the batch (--batch) or the context (--ctx).`
      : `${over}: lower the batch (--batch) or the context (--ctx).`;
  const t = b?.maxTensor;
  if (t && run.largestTensor > t.bytes) return refuse(`${aRun} would hold a tensor of ${gib(run.largestTensor)}, but ${t.source} is ${gib(t.bytes)}`, false, 0);
  const heap = b?.heap;
  if (heap && run.runPeak > heap.bytes) {
    const over = `${aRun} would hold about ${gib(run.runPeak)} in one of its runs, but a run may hold at most ${gib(heap.bytes)} (${heap.source})`;
    return refuse(over, f.sparse.runPeak <= heap.bytes, f.sparse.runPeak);
  }
  if (!b || run.peak <= b.bytes) return null;
  const over = `${aRun} would peak at about ${gib(run.peak)} (${gib(run.split.activations + run.split.offloaded)} of them activations), but ${gib(b.bytes)} is available (${b.source})`;
  // With disk offload only two layers' saved activations stay in memory: named when that fits.
  const disk = f.withDisk && (mode === 'dense' ? f.withDisk.dense : f.withDisk.sparse);
  if (disk && disk <= b.bytes && !(mode === 'dense' && f.sparse.peak <= b.bytes)) {
    return `${over}; with its saved activations offloaded to disk it would take about ${gib(disk)}: choose offload to disk (--offload disk), or lower the batch (--batch) or the context (--ctx).`;
  }
  return refuse(over, f.sparse.peak <= b.bytes, f.sparse.peak);
}

/** Refuses a run whose forecast peak would not fit the memory budget. */
export function checkRunFits(f: RunForecast, mode: SparsityMode): void {
  const refusal = forecastRefusal(f, mode);
  if (refusal) throw new UserError(refusal);
}

/** Refuses disk offload where the shell gives no place for its files (lemo train gives a temporary folder, the studio its browser storage). */
export function checkOffload(mode: OffloadMode, hasStore: boolean): void {
  if (mode === 'disk' && !hasStore) throw new UserError('Offload to disk needs a place for its files, and none was given to this run (lemo train --offload disk gives a temporary folder); choose host or none.');
}

/**
 * Refuses a step whose saved activations, with the weights, would not fit the memory budget (when
 * the budget holds them). Offloaded to disk, two layers' worth are in memory at once.
 */
export function checkStepFits(l: { cfg: ModelConfig; weightBytes: number; budget?: MemoryBudget }, batch: number, ctx: number, offload: OffloadMode = 'none'): void {
  const b = l.budget;
  if (!b || b.deviceSeparate) return;
  const all = savedActivationBytes(l.cfg, batch * ctx);
  const activations = offload === 'disk' ? (all * Math.min(2, l.cfg.layers)) / l.cfg.layers : all;
  if (activations + l.weightBytes <= b.bytes) return;
  throw new UserError(
    `A step of ${batch} × ${ctx} tokens would keep about ${gib(activations)} of activations for its backward, besides ${gib(l.weightBytes)} of weights, ` +
      `but ${gib(b.bytes)} is available (${b.source}): lower the batch (--batch) or the context (--ctx).`,
  );
}

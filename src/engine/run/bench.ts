// The benchmark behind `lemo bench`: for each context length and mode, the same windows,
// the same seed, a few optimizer steps; peak memory from the accountant, step times, loss and
// the share of tokens each layer kept. With an offload, each (mode, ctx) runs without and then
// with it on the same windows, and the second row carries the step-time ratio.
import type { ByKind } from '../memory/accountant';
import type { OffloadMode } from '../settings';
import type { OffloadOptions } from '../train/offload';
import type { LoraConfig } from '../model/lora';
import { blocksToRows } from '../sparsity/blocks';
import { selectorFor, type Selector, type Sparsity } from '../sparsity/selectors';
import { ADAMW_DEFAULTS } from '../train/adamw';
import type { DeviceModel } from '../train/device-model';
import { WindowSampler, windows } from '../train/data';
import { Trainer } from '../train/trainer';
import { UserError } from '../errors';

export interface BenchRow {
  mode: string;
  /** Where saved activations waited for their backward. */
  offload: OffloadMode;
  ctx: number;
  steps: number;
  /** Accountant's peak of all kinds together (weights included), and its split at that moment. */
  peakBytes: number;
  peakSplit: ByKind;
  /** Peak of saved activations alone. */
  savedActivationBytes: number;
  transientPeakBytes: number;
  /** Peak of saved activations parked in host memory (host offload). */
  offloadedPeakBytes: number;
  /** With offload: median step time over the same mode's without offload, measured in this run. */
  offloadTimeRatio?: number;
  /** Peak of the device's own figure (GPU buffers alive) over the steps, when the runtime has a probe. */
  devicePeakBytes: number | null;
  /** Median over the steps after the first (which compiles the sessions). */
  medianStepMs: number;
  stepMs: number[];
  loss: number;
  /** Share of tokens each layer kept in the last step (1 for dense layers). */
  keptShare: number[];
  /** lemo mode: per layer, the share of the oracle's kept blocks the predictors kept, on the last window (null: dense layer). */
  recall?: (number | null)[];
  /** lemo mode: median time per step of the predictors' forward and the selection, and its share of the step. */
  predictMs?: number;
  predictShare?: number;
}

export interface BenchPlan {
  ctxs: number[];
  modes: { name: string; sparsity: Sparsity }[];
  steps: number;
  seed: number;
  lora: LoraConfig;
  lr: number;
  /** Each row again with this offload (host or disk). */
  offload?: OffloadOptions;
  /** lemo rows measure the predictors' recall after their steps (true unless false: profiles of the steps alone). */
  recall?: boolean;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const later = (xs: number[]) => (xs.length > 1 ? xs.slice(1) : xs);

/** What the timed steps of one (mode, ctx) measured. */
interface Measured {
  stepMs: number[];
  predictMs: number[];
  loss: number;
  batch: number[][];
  devicePeak: number | null;
}

/** The timed steps, with the device's peak when the runtime samples one. */
async function measure(trainer: Trainer, selector: Selector, sampler: WindowSampler, steps: number): Promise<Measured> {
  const rt = trainer.rt;
  rt.memory.resetPeaks();
  const m: Measured = { stepMs: [], predictMs: [], loss: NaN, batch: [], devicePeak: null };
  const previous = rt.onSample;
  rt.onSample = (s) => {
    if (s.device !== undefined) m.devicePeak = Math.max(m.devicePeak ?? 0, s.device);
    previous?.(s);
  };
  for (let s = 0; s < steps; s++) {
    m.batch = sampler.next(1);
    const t0 = performance.now();
    m.loss = (await trainer.step(m.batch, selector)).loss;
    m.stepMs.push(performance.now() - t0);
    if (selector.last?.predictMs !== undefined) m.predictMs.push(selector.last.predictMs);
  }
  rt.onSample = previous;
  return m;
}

/** One (mode, ctx) row: the timed steps, then (lemo) recall on the last window outside them. */
async function benchRow(dm: DeviceModel, all: number[][], ctx: number, mode: BenchPlan['modes'][number], plan: BenchPlan, offload: OffloadOptions): Promise<BenchRow> {
  const trainer = await Trainer.create(dm, dm.model, plan.lora, { seed: plan.seed, optimizer: { ...ADAMW_DEFAULTS, lr: plan.lr }, offload });
  const layers = dm.model.config.layers;
  const selector = selectorFor(mode.sparsity, layers);
  const m = await measure(trainer, selector, new WindowSampler(all, plan.seed), plan.steps);
  const sel = selector.last;
  const keptShare = Array.from({ length: layers }, (_, l) => {
    const kept = sel?.kept[l];
    return kept ? blocksToRows(kept, sel!.block, ctx).length / ctx : 1;
  });
  const mem = dm.rt.memory;
  const row: BenchRow = {
    mode: mode.name, offload: offload.mode, ctx, steps: plan.steps, peakBytes: mem.peakTotal, peakSplit: { ...mem.peakSplit },
    savedActivationBytes: mem.peak.activations, transientPeakBytes: mem.peak.transient, offloadedPeakBytes: mem.peak.offloaded, devicePeakBytes: m.devicePeak,
    medianStepMs: median(later(m.stepMs)), stepMs: m.stepMs, loss: m.loss, keptShare,
  };
  if (mode.sparsity.mode === 'lemo') {
    row.predictMs = median(later(m.predictMs));
    row.predictShare = row.predictMs / row.medianStepMs;
  }
  if (mode.sparsity.mode === 'lemo' && plan.recall !== false) {
    // Recall on the last window, after the measured steps (the oracle's memory and time stay
    // out of the figures above): the same forward with the oracle beside the predictors.
    const withRecall = selectorFor({ ...mode.sparsity, recall: true }, layers);
    await trainer.nll(m.batch, withRecall);
    row.recall = withRecall.last?.recall ?? [];
  }
  trainer.dispose();
  return row;
}

export async function benchmark(dm: DeviceModel, docs: number[][], plan: BenchPlan, onRow: (r: BenchRow) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const ctx of plan.ctxs) {
    const all = windows(docs, ctx);
    if (all.length === 0) throw new UserError(`No document has ${ctx} tokens; the benchmark needs at least one window of that length.`);
    for (const mode of plan.modes) {
      const row = await benchRow(dm, all, ctx, mode, plan, { mode: 'none' });
      rows.push(row);
      onRow(row);
      if (!plan.offload || plan.offload.mode === 'none') continue;
      const off = await benchRow(dm, all, ctx, mode, plan, plan.offload);
      off.offloadTimeRatio = off.medianStepMs / row.medianStepMs;
      rows.push(off);
      onRow(off);
    }
  }
  return rows;
}

// The benchmark behind `lemo bench`: for each context length and mode, the same windows,
// the same seed, a few optimizer steps; peak memory from the accountant, step times, loss and
// the share of tokens each layer kept.
import type { ByKind } from '../memory/accountant';
import type { LoraConfig } from '../model/lora';
import { blocksToRows } from '../sparsity/blocks';
import type { DeviceModel } from './device-model';
import { WindowSampler, windows } from './data';
import { Trainer, type Sparsity } from './trainer';
import { UserError } from '../errors';

export interface BenchRow {
  mode: string;
  ctx: number;
  steps: number;
  /** Accountant's peak of all kinds together (weights included), and its split at that moment. */
  peakBytes: number;
  peakSplit: ByKind;
  /** Peak of saved activations alone. */
  savedActivationBytes: number;
  transientPeakBytes: number;
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
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchmark(dm: DeviceModel, docs: number[][], plan: BenchPlan, onRow: (r: BenchRow) => void): Promise<BenchRow[]> {
  const rt = dm.rt;
  const rows: BenchRow[] = [];
  for (const ctx of plan.ctxs) {
    const all = windows(docs, ctx);
    if (all.length === 0) throw new UserError(`No document has ${ctx} tokens; the benchmark needs at least one window of that length.`);
    for (const mode of plan.modes) {
      const sampler = new WindowSampler(all, plan.seed);
      const trainer = await Trainer.create(dm, dm.model, plan.lora, { seed: plan.seed });
      trainer.optimizer = { ...trainer.optimizer, lr: plan.lr };
      trainer.setSparsity(mode.sparsity);
      rt.memory.resetPeaks();
      let devicePeak: number | null = null;
      const previous = rt.onSample;
      rt.onSample = (m) => {
        if (m.device !== undefined) devicePeak = Math.max(devicePeak ?? 0, m.device);
        previous?.(m);
      };
      const stepMs: number[] = [];
      const predictMs: number[] = [];
      let loss = NaN;
      let batch: number[][] = [];
      for (let s = 0; s < plan.steps; s++) {
        batch = sampler.next(1);
        const t0 = performance.now();
        loss = (await trainer.step(batch)).loss;
        stepMs.push(performance.now() - t0);
        if (trainer.lastSelection?.predictMs !== undefined) predictMs.push(trainer.lastSelection.predictMs);
      }
      rt.onSample = previous;

      const sel = trainer.lastSelection;
      const keptShare = Array.from({ length: dm.model.config.layers }, (_, l) => {
        const kept = sel?.kept[l];
        return kept ? blocksToRows(kept, sel!.block, ctx).length / ctx : 1;
      });
      const m = rt.memory;
      const row: BenchRow = {
        mode: mode.name, ctx, steps: plan.steps, peakBytes: m.peakTotal, peakSplit: { ...m.peakSplit },
        savedActivationBytes: m.peak.activations, transientPeakBytes: m.peak.transient, devicePeakBytes: devicePeak,
        medianStepMs: median(stepMs.length > 1 ? stepMs.slice(1) : stepMs), stepMs, loss, keptShare,
      };
      const sp = mode.sparsity;
      if (sp.mode === 'lemo') {
        // Recall on the last window, after the measured steps (the oracle's memory and time stay
        // out of the figures above): the same forward with the oracle beside the predictors.
        sp.recall = true;
        await trainer.nll(batch);
        sp.recall = false;
        const later = (xs: number[]) => (xs.length > 1 ? xs.slice(1) : xs);
        row.recall = trainer.lastSelection?.recall ?? [];
        row.predictMs = median(later(predictMs));
        row.predictShare = row.predictMs / row.medianStepMs;
      }
      trainer.dispose();
      rows.push(row);
      onRow(row);
    }
  }
  return rows;
}

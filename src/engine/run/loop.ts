// A training run: the loop of steps that can be paused, resumed and stopped between steps, with
// its journal, checkpoints, held-out evaluation and the events the shells draw.
import { OffloadFailed, RunStopped, UserError } from '../errors';
import type { EngineEvent, MemorySample } from '../events';
import type { Runtime } from '../runtime/runtime';
import type { TrainSettings } from '../settings';
import { selectorFor, type Selector, type Sparsity } from '../sparsity/selectors';
import type { WindowSampler } from '../train/data';
import type { Trainer } from '../train/trainer';
import { encodeCheckpoint, mismatch, nothingLeft, type Checkpoint, type DatasetIdentity, type ModelIdentity } from './checkpoint';
import { perplexity } from './evaluate';
import { RunJournal } from './journal';

/** Pause, resume and stop, as a shell asks for them while a run awaits its steps. */
export class RunControl {
  private state: 'run' | 'pause' | 'stop' = 'run';
  private wake: (() => void) | null = null;

  set(action: 'pause' | 'resume' | 'stop'): void {
    this.state = action === 'resume' ? 'run' : action;
    if (action !== 'pause' && this.wake) {
      this.wake();
      this.wake = null;
    }
  }

  reset(): void {
    this.state = 'run';
  }

  /** Read through a method: pause and stop arrive while the run awaits. */
  private current(): 'run' | 'pause' | 'stop' {
    return this.state;
  }

  /** Between steps: waits while paused (reporting it); true once stopped. `done` is the last step finished. */
  async stopped(done: number, emit: (e: EngineEvent) => void): Promise<boolean> {
    // onnxruntime's WASM runs resolve as microtasks: yield a macrotask so pause and stop
    // messages reach the worker between steps.
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (this.current() === 'pause') {
      emit({ type: 'status', state: 'paused', step: done });
      await new Promise<void>((resolve) => (this.wake = resolve));
      if (this.current() === 'run') emit({ type: 'status', state: 'running', step: done });
    }
    if (this.current() !== 'stop') return false;
    emit({ type: 'status', state: 'stopped', step: done });
    return true;
  }
}

/** Everything a run needs, prepared by the session. */
export interface RunPlan {
  trainer: Trainer;
  settings: TrainSettings;
  sparsity: Sparsity;
  sampler: WindowSampler;
  /** With legacyHash when resuming a checkpoint that identifies its data the older way. */
  dataset: DatasetIdentity & { legacyHash?: string };
  identity: ModelIdentity;
  /** Held-out chunks evaluated every `every` steps and after the last. */
  heldout: { chunks: number[][]; every: number } | null;
  /** Text of a token range, for the heat map's cells; null without a tokenizer. */
  decode: ((ids: number[]) => string) | null;
  resume?: Checkpoint;
  /** Stores a checkpoint (every settings.checkpointEvery steps); the run waits for it. */
  onCheckpoint?: (bytes: Uint8Array, step: number) => Promise<void>;
}

export class TrainingRun {
  private journal: RunJournal;
  private selector: Selector;
  /** lemo: the same choice with the oracle beside it, on the steps that measure recall. */
  private recallSelector: Selector;
  private samples: MemorySample[] = [];
  private lastLoss = NaN;

  constructor(private readonly plan: RunPlan, private readonly control: RunControl, private readonly emit: (e: EngineEvent) => void) {
    const layers = plan.trainer.config.layers;
    const s = plan.sparsity;
    this.selector = selectorFor(s.mode === 'lemo' ? { ...s, recall: false } : s, layers);
    this.recallSelector = s.mode === 'lemo' ? selectorFor({ ...s, recall: true }, layers) : this.selector;
    this.journal = new RunJournal(plan.resume?.run);
  }

  private get rt(): Runtime {
    return this.plan.trainer.rt;
  }

  /** Continues from the checkpoint, when there is one to resume. */
  async restore(): Promise<void> {
    const { resume, identity, dataset, trainer, sampler } = this.plan;
    if (!resume) return;
    const why = mismatch(resume.run, identity, dataset) ?? nothingLeft(resume.run, this.plan.settings.steps);
    if (why) throw new UserError(why);
    await trainer.importState(resume.state);
    sampler.restore(resume.run.sampler);
    this.emit({ type: 'resumed', step: this.journal.step, history: [...this.journal.history], skipped: [...this.journal.skipped] });
  }

  /** Trains until the step count, or until stopped; emits a step event per step. */
  async loop(): Promise<{ steps: number; lastLoss: number }> {
    const { settings } = this.plan;
    this.rt.memory.resetPeaks();
    this.control.reset();
    this.emit({ type: 'status', state: 'running', step: this.journal.step });
    this.rt.onSample = (m) => {
      // AdamW runs once per LoRA tensor; one sample of that phase per step is enough.
      if (m.phase === 'adamw' && this.samples.at(-1)?.phase === 'adamw') this.samples[this.samples.length - 1] = m;
      else this.samples.push(m);
    };
    for (let step = this.journal.step + 1; step <= settings.steps; step++) {
      if (await this.control.stopped(step - 1, this.emit)) return { steps: step - 1, lastLoss: this.lastLoss };
      await this.step(step);
      await this.checkpoint(step);
    }
    this.emit({ type: 'status', state: 'finished', step: settings.steps });
    return { steps: settings.steps, lastLoss: this.lastLoss };
  }

  private async step(step: number): Promise<void> {
    const { settings, trainer } = this.plan;
    const t0 = performance.now();
    const batch = this.plan.sampler.next(settings.batch);
    const recall = this.recallSelector !== this.selector && settings.recallEvery > 0 && step % settings.recallEvery === 0;
    const selector = recall ? this.recallSelector : this.selector;
    const r = await trainer.step(batch, selector).catch((e: unknown) => {
      // Disk offload's store failed (full, gone): nothing of this step was applied, the adapter stays as it was.
      if (!(e instanceof OffloadFailed)) throw e;
      throw new RunStopped(`Training stopped at step ${step} because ${e.message[0].toLowerCase()}${e.message.slice(1)}`, this.journal.lastGoodStep);
    });
    const ms = performance.now() - t0;
    if (r.skipped) {
      this.journal.skip(step, r.loss, trainer, this.emit);
      this.samples = [];
      return;
    }
    this.lastLoss = r.loss;
    this.emit(this.journal.stepped({ type: 'step', step, totalSteps: settings.steps, loss: r.loss, tokens: r.tokens, ms, tokensPerSecond: (r.tokens / ms) * 1000, lr: r.lr, gradNorm: r.gradNorm }));
    const mem = this.rt.memory;
    this.emit({ type: 'memory', step, samples: this.samples, peakTotal: mem.peakTotal, peakSplit: { ...mem.peakSplit } });
    this.samples = [];
    this.emitSelection(step, selector, batch[0]);
    const h = this.plan.heldout;
    if (h && (step % h.every === 0 || step === settings.steps)) {
      await this.evalHeldOut(h.chunks, step);
      this.samples = [];
    }
  }

  private emitSelection(step: number, selector: Selector, seq: number[]): void {
    const sel = selector.last;
    const decode = this.plan.decode;
    if (!sel || !decode) return;
    const blockText = Array.from({ length: sel.blocks }, (_, j) => decode(seq.slice(j * sel.block, (j + 1) * sel.block)));
    this.emit({ type: 'sparsity', step, block: sel.block, blocks: sel.blocks, kept: sel.kept, recall: sel.recall?.some((x) => x !== null) ? sel.recall : null, blockText });
  }

  /** Held-out perplexity of the adapter so far, every layer dense (as the model runs after training). */
  private async evalHeldOut(chunks: number[][], step: number): Promise<void> {
    const t0 = performance.now();
    const r = await perplexity(this.plan.trainer, chunks, this.plan.settings.ctx);
    this.emit({ type: 'eval', step, loss: r.loss, perplexity: r.perplexity, tokens: r.tokens, ms: performance.now() - t0 });
  }

  private async checkpoint(step: number): Promise<void> {
    const { settings, onCheckpoint, trainer } = this.plan;
    if (!onCheckpoint || !(settings.checkpointEvery > 0) || step % settings.checkpointEvery !== 0 || step === settings.steps) return;
    const t0 = performance.now();
    const state = await trainer.exportState();
    const { legacyHash: _, ...dataset } = this.plan.dataset;
    const bytes = encodeCheckpoint(this.journal.record(settings, dataset, this.plan.identity, this.plan.sampler.state, state));
    try {
      await onCheckpoint(bytes, step);
    } catch (e) {
      // The adapter is whole (the step is done); the shell can still write it.
      const why = e instanceof UserError ? e.message : `The checkpoint after step ${step} could not be stored (${(e as Error).message ?? String(e)}).`;
      throw new RunStopped(why, this.journal.lastGoodStep);
    }
    this.emit({ type: 'checkpoint', step, bytes: bytes.byteLength, ms: performance.now() - t0 });
  }
}

// What a run keeps between checkpoints: where it is, its loss history, its skipped steps; and
// what a step whose loss was NaN or infinite does to it.
import { RunStopped } from '../errors';
import type { SkippedEvent, StepEvent } from '../events';
import type { TrainSettings } from '../settings';
import type { SamplerState } from '../train/data';
import type { TrainerState } from '../train/trainer';
import type { Checkpoint, ModelIdentity, RunRecord } from './checkpoint';

/** Bad steps in a row after which a run stops. */
export const BAD_STEPS_LIMIT = 3;

const fmtLr = (lr: number) => String(Number(lr.toPrecision(3)));

/** What a run keeps between checkpoints: where it is, its loss history, its skipped steps. */
export class RunJournal {
  step: number;
  history: StepEvent[];
  skipped: SkippedEvent[];
  badInARow: number;

  constructor(from?: RunRecord) {
    this.step = from?.step ?? 0;
    this.history = [...(from?.history ?? [])];
    this.skipped = [...(from?.skipped ?? [])];
    this.badInARow = from?.badInARow ?? 0;
  }

  /** The last step whose update the adapter holds (0: none yet). */
  get lastGoodStep(): number {
    return this.history.at(-1)?.step ?? 0;
  }

  /** A step that was applied. */
  stepped(e: StepEvent): StepEvent {
    this.step = e.step;
    this.history.push(e);
    this.badInARow = 0;
    return e;
  }

  /**
   * A step whose loss was NaN or infinite (nothing was applied): halves the learning rate,
   * reports it, and stops the run once BAD_STEPS_LIMIT came in a row.
   */
  skip(step: number, loss: number, trainer: { halveLearningRate(): number }, emit: (e: SkippedEvent) => void): void {
    this.step = step;
    this.badInARow++;
    const lr = trainer.halveLearningRate();
    const e: SkippedEvent = { type: 'skipped', step, loss, lr, message: `step ${step}: the loss was ${loss}; the step was skipped (nothing applied) and the learning rate lowered to ${fmtLr(lr)}.` };
    this.skipped.push(e);
    emit(e);
    if (this.badInARow >= BAD_STEPS_LIMIT) {
      throw new RunStopped(
        `Training stopped at step ${step}: the loss was NaN or infinite in ${this.badInARow} steps in a row, even with the learning rate lowered to ${fmtLr(lr)}. ` +
          'The adapter keeps its last good update. Try a lower learning rate, or check the data and the model\'s weights for NaN or infinite values.',
        this.lastGoodStep,
      );
    }
  }

  record(settings: TrainSettings, dataset: RunRecord['dataset'], model: ModelIdentity, sampler: SamplerState, state: TrainerState): Checkpoint {
    return {
      run: {
        step: this.step, settings, dataset, model, sampler, optimizer: { steps: state.steps, settings: state.optimizer },
        badInARow: this.badInARow, history: this.history, skipped: this.skipped,
      },
      state,
    };
  }
}

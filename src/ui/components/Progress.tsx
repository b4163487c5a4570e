// The run's controls and where it stands: step, throughput, elapsed and remaining time.
import { elapsedMs, useStudio } from '../store';
import { control, start } from '../controller';
import { fmtDuration } from '../lib/format';
import { useNow } from '../lib/use-now';

const PENDING = { pause: 'pausing after this step…', resume: 'resuming…', stop: 'stopping after this step…' } as const;

/** Steps the time-left estimate averages over (the first step also compiles sessions). */
const RECENT = 5;

export function Progress() {
  const run = useStudio((s) => s.run);
  const step = useStudio((s) => s.step);
  const steps = useStudio((s) => s.steps);
  const model = useStudio((s) => s.model);
  // A model folder loading replaces the model a run would train.
  const modelLoading = useStudio((s) => s.modelLoading !== null);
  const total = useStudio((s) => (s.runSettings ?? s.settings).steps);
  const startedAt = useStudio((s) => s.startedAt);
  const runningAt = useStudio((s) => s.runningAt);
  const endedAt = useStudio((s) => s.endedAt);
  const pausedAt = useStudio((s) => s.pausedAt);
  const pausedMs = useStudio((s) => s.pausedMs);
  const evaluates = useStudio((s) => (s.runSettings?.evalEvery ?? 0) > 0 && s.heldoutFiles.length > 0);
  const pending = useStudio((s) => s.pending);
  const busy = run === 'running' || run === 'paused';
  const now = useNow(busy);
  const last = steps[steps.length - 1];
  const recent = steps.length > 1 ? steps.slice(1).slice(-RECENT) : steps;
  const mean = recent.length ? recent.reduce((a, s) => a + s.ms, 0) / recent.length : NaN;
  // Elapsed counts from the first step (reading the data and the dense baseline come before it),
  // and stops while the run is paused.
  const elapsed = elapsedMs({ runningAt, endedAt, pausedAt, pausedMs }, now);
  // After the last step the run evaluates the held-out text (or writes its last checkpoint).
  const left = step >= total ? (evaluates ? 'evaluating…' : 'finishing…') : `${fmtDuration(mean * (total - step))} left`;
  const preparing = runningAt === null && startedAt !== null && busy;
  const prepared = runningAt !== null && startedAt !== null ? runningAt - startedAt : NaN;
  return (
    <section className="card progress wide" data-testid="progress">
      <div className="buttons">
        <button className="primary" data-testid="start" disabled={busy || run === 'loading' || !model || modelLoading} onClick={() => void start()}>Start</button>
        <button data-testid="pause" disabled={run !== 'running' || pending !== null} onClick={() => control('pause')}>Pause</button>
        <button data-testid="resume" disabled={run !== 'paused' || pending !== null} onClick={() => control('resume')}>Resume</button>
        <button data-testid="stop" disabled={!busy || pending === 'stop'} onClick={() => control('stop')}>Stop</button>
        {pending && <span className="muted small" data-testid="pending">{PENDING[pending]}</span>}
        <span className={`state state-${run}`} data-testid="run-state">{run}</span>
      </div>
      <progress max={total} value={step} />
      <div className="stats">
        <span data-testid="step">step {step} / {total}</span>
        <span data-testid="tokens-per-second">{last ? `${Math.round(last.tokensPerSecond)} tokens/s` : '– tokens/s'}</span>
        <span>{last ? `${Math.round(last.ms)} ms/step` : '– ms/step'}</span>
        <span data-testid="elapsed">{preparing ? `preparing ${fmtDuration(now - startedAt!)}` : `elapsed ${fmtDuration(elapsed)}`}</span>
        {Number.isFinite(prepared) && <span className="muted" data-testid="prepared" title="reading and tokenizing the data, the dense baseline step">prepared in {fmtDuration(prepared)}</span>}
        <span data-testid="time-left">{busy && steps.length ? left : run === 'finished' ? 'done' : ''}</span>
      </div>
    </section>
  );
}

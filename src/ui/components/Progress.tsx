import { useStudio } from '../store';
import { control, start } from '../controller';

function fmtTime(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function Progress() {
  const { run, step, steps, settings, model } = useStudio();
  const total = settings.steps;
  const last = steps[steps.length - 1];
  const mean = steps.length ? steps.reduce((a, s) => a + s.ms, 0) / steps.length : NaN;
  const busy = run === 'running' || run === 'paused';
  return (
    <section className="card progress" data-testid="progress">
      <div className="buttons">
        <button className="primary" data-testid="start" disabled={busy || run === 'loading' || !model} onClick={() => void start()}>Start</button>
        <button data-testid="pause" disabled={run !== 'running'} onClick={() => control('pause')}>Pause</button>
        <button data-testid="resume" disabled={run !== 'paused'} onClick={() => control('resume')}>Resume</button>
        <button data-testid="stop" disabled={!busy} onClick={() => control('stop')}>Stop</button>
        <span className={`state state-${run}`} data-testid="run-state">{run}</span>
      </div>
      <progress max={total} value={step} />
      <div className="stats">
        <span data-testid="step">step {step} / {total}</span>
        <span>{last ? `${Math.round(last.tokensPerSecond)} tokens/s` : '– tokens/s'}</span>
        <span>{last ? `${Math.round(last.ms)} ms/step` : ''}</span>
        <span>{busy && steps.length ? `${fmtTime(mean * (total - step))} left` : ''}</span>
      </div>
    </section>
  );
}

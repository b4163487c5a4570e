// A run that a reload, a crashed worker or a lost GPU interrupted: resume it from its last
// checkpoint or discard it. Below it, the run's skipped steps (NaN or infinite loss) and its
// latest checkpoint.
import { useStudio } from '../store';
import { discardRun, resumeRun } from '../controller';
import { fmtBytes } from '../lib/format';

export function ResumeBanner() {
  const interrupted = useStudio((s) => s.interrupted);
  const run = useStudio((s) => s.run);
  const checked = useStudio((s) => s.interruptedChecked);
  if (!interrupted) return checked ? <span hidden data-testid="no-interrupted-run" /> : null;
  if (run === 'running' || run === 'paused' || run === 'loading') return null;
  return (
    <div className="banner" role="status" data-testid="resume-banner" data-step={interrupted.step}>
      <span>
        A run was interrupted at step {interrupted.step} of {interrupted.steps} ({interrupted.files.join(', ')}).
        {' '}Resuming continues from its last checkpoint with the same settings and data.
      </span>
      <span className="buttons">
        <button className="primary" data-testid="resume-run" onClick={() => void resumeRun()}>Resume</button>
        <button data-testid="discard-run" onClick={() => void discardRun()}>Discard</button>
      </span>
    </div>
  );
}

export function RunNotices() {
  const notices = useStudio((s) => s.notices);
  const checkpoint = useStudio((s) => s.checkpoint);
  if (!notices.length && !checkpoint) return null;
  return (
    <div className="notices small" data-testid="run-notices">
      {notices.map((n, i) => <div key={i} className="notice" data-testid="skipped-step">{n}</div>)}
      {checkpoint && (
        <div className="muted" data-testid="checkpoint" data-step={checkpoint.step}>
          checkpoint saved after step {checkpoint.step} ({fmtBytes(checkpoint.bytes)}, {Math.round(checkpoint.ms)} ms), in this browser's storage
        </div>
      )}
    </div>
  );
}

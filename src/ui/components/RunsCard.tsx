// The runs kept to compare: this session's and earlier ones' (the browser keeps them), each
// with its settings, final loss and peak memory; a checkbox overlays it on the charts.
import { useStudio } from '../store';
import { compareWithDense, deleteRun, toggleRun } from '../controller';
import { finalLoss, runColor } from '../lib/runs';
import { fmtBytes } from '../lib/format';

export function RunsCard() {
  const runs = useStudio((s) => s.runs);
  const currentRunId = useStudio((s) => s.currentRunId);
  const run = useStudio((s) => s.run);
  const liveSteps = useStudio((s) => s.steps);
  const livePeak = useStudio((s) => s.memoryPeak?.total ?? null);
  const busy = run === 'running' || run === 'paused' || run === 'loading';
  const rows = runs.map((r) => {
    const live = r.id === currentRunId && (run === 'running' || run === 'paused');
    const last = live ? liveSteps[liveSteps.length - 1] : null;
    return { r, live, loss: live ? last?.loss ?? null : finalLoss(r), done: live ? liveSteps.length : r.steps.length, peak: live ? livePeak : r.peak, state: live ? run : r.state };
  });
  const maxPeak = Math.max(0, ...rows.map((x) => x.peak ?? 0));
  return (
    <section className="card wide runs" data-testid="runs">
      <h2>Runs</h2>
      {runs.length === 0 ? <p className="small muted">Each run is kept here (in this browser, across reloads) to compare: check runs to overlay them on the charts.</p> : (
        <div className="table-scroll">
          <table className="runs-table">
            <thead>
              <tr><th>show</th><th>run</th><th>mode</th><th className="num">ctx</th><th className="num">steps</th><th className="num">final loss</th><th>peak memory</th><th>state</th><th /></tr>
            </thead>
            <tbody>
              {rows.map(({ r, loss, done, peak, state }) => (
                <tr key={r.id} data-testid="run-row" data-run={r.id} data-mode={r.settings.sparsity} data-peak={peak ?? ''} data-checked={r.checked} data-state={state}>
                  <td><input type="checkbox" aria-label={`show ${r.name} on the charts`} data-testid="run-show" checked={r.checked} onChange={() => toggleRun(r.id)} /></td>
                  <td><span className="swatch" style={{ background: runColor(runs, r.id) }} />{r.name}<span className="muted small">{r.model ? ` · ${r.model}` : ''}</span></td>
                  <td>{r.settings.sparsity}</td>
                  <td className="num">{r.settings.ctx}</td>
                  <td className="num">{done} / {r.settings.steps}</td>
                  <td className="num" data-testid="run-loss">{loss === null ? '–' : loss.toFixed(4)}</td>
                  <td>
                    <span className="peak-cell">
                      <span className="peak-track"><i style={{ width: `${maxPeak && peak ? (100 * peak) / maxPeak : 0}%`, background: runColor(runs, r.id) }} /></span>
                      <span className="num" data-testid="run-peak">{peak === null ? '–' : fmtBytes(peak)}</span>
                    </span>
                  </td>
                  <td className="small">{state}</td>
                  <td className="run-actions">
                    {r.settings.sparsity !== 'dense' && (
                      <button className="mini" data-testid="compare-dense" disabled={busy} onClick={() => void compareWithDense(r.id)} title="run the same settings with every token kept, and overlay it">Compare with dense</button>
                    )}
                    <button className="mini" data-testid="run-delete" aria-label={`delete ${r.name}`} disabled={busy && r.id === currentRunId} onClick={() => deleteRun(r.id)}>Delete</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

// The memory a run of the settings shown would take at its peak, by kind, dense and with token
// elimination, against this tab's budget: forecast by the engine before Start. Only the forecast
// of the settings, model and predictors shown is shown; until it comes, the card says so.
import { useStudio } from '../store';
import { fmtBytes } from '../lib/format';
import { forecastRows, forecastVerdict, offloadNote, shownForecast } from '../lib/forecast';

function PendingForecast() {
  const loading = useStudio((s) => s.modelLoading);
  const busy = useStudio((s) => s.run === 'running' || s.run === 'paused');
  const why = loading !== null ? `Forecast once ${loading} has loaded.` : busy ? 'These settings are forecast once the run has ended.' : 'Forecasting the settings shown…';
  return (
    <section className="card" data-testid="forecast" data-state="pending">
      <h2>Memory forecast</h2>
      <p className="muted small" data-testid="forecast-pending">{why}</p>
    </section>
  );
}

export function ForecastCard() {
  const f = useStudio(shownForecast);
  if (f === 'pending') return <PendingForecast />;
  if (!f) return null;
  const refused = f.refusal !== null;
  return (
    <section className="card" data-testid="forecast" data-state="ready" data-refused={refused} data-offload={f.offload} data-dense={f.dense.peak} data-sparse={f.sparse.peak} data-budget={f.budget?.bytes ?? ''} data-dense-run={f.dense.runPeak} data-sparse-run={f.sparse.runPeak} data-heap={f.budget?.heap?.bytes ?? ''}>
      <h2>Memory forecast</h2>
      <table className="forecast">
        <thead>
          <tr><th>peak of a step, {f.batch} × {f.ctx} tokens{offloadNote(f)}</th><th>dense</th><th>{f.sparse.mode}</th></tr>
        </thead>
        <tbody>
          {forecastRows(f).map((r) => (
            <tr key={r.label} data-testid={`forecast-${r.label === 'peak' ? 'peak' : r.label.startsWith('in browser storage') ? 'stored' : 'kind'}`}>
              <td>{r.label}</td><td>{fmtBytes(r.dense)}</td><td>{fmtBytes(r.sparse)}</td>
            </tr>
          ))}
          {f.budget?.heap && <tr data-testid="forecast-run"><td>largest run (of {fmtBytes(f.budget.heap.bytes)})</td><td>{fmtBytes(f.dense.runPeak)}</td><td>{fmtBytes(f.sparse.runPeak)}</td></tr>}
          {f.budget && Number.isFinite(f.budget.bytes) && <tr><td>this tab’s budget</td><td colSpan={2}>{fmtBytes(f.budget.bytes)}</td></tr>}
        </tbody>
      </table>
      <p className={refused ? 'field-error' : 'muted small'} data-testid="forecast-verdict" role={refused ? 'alert' : undefined}>
        {refused ? 'Start is refused: ' : ''}{forecastVerdict(f)}
      </p>
    </section>
  );
}

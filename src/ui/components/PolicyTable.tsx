// The per-layer keep policy, one row per layer: dense, a keep ratio, or a threshold on the
// layer's block scores (a multiple of their mean). It starts as the policy a run would use.
import { useStudio } from '../store';
import { editRow, entryKind, entryValue, shownPolicy, withKind, withValue, type EntryKind } from '../lib/policy-table';

export function PolicyTable({ disabled }: { disabled: boolean }) {
  const settings = useStudio((s) => s.settings);
  const setSettings = useStudio((s) => s.setSettings);
  const model = useStudio((s) => s.model);
  if (!model) return null;
  const modelPolicy = model.policy ?? null;
  const { entries, source } = shownPolicy(settings, model.layers, modelPolicy);
  const edit = (layer: number, entry: (typeof entries)[number]) =>
    // The first edit of the model's policy keeps its block; an edited policy runs at the block field's size.
    setSettings({ policy: editRow(entries, layer, entry), ...(source === 'model' && modelPolicy ? { block: modelPolicy.block } : {}) });
  const from = source === 'settings' ? 'edited here' : source === 'model' ? 'the model’s policy.json' : 'the paper’s default (keep ratio above)';
  return (
    <div className="policy" data-testid="policy" data-source={source}>
      <table className="policy-table">
        <thead><tr><th>layer</th><th>keeps</th><th title="keep ratio: share of blocks kept; threshold: blocks whose score reaches this multiple of the layer's mean">value</th></tr></thead>
        <tbody>
          {entries.map((e, l) => {
            const kind = entryKind(e);
            const value = entryValue(e);
            return (
              <tr key={l} data-testid="policy-row" data-layer={l} data-kind={kind}>
                <td className="num">{l}</td>
                <td>
                  <select data-testid={`policy-kind-${l}`} aria-label={`layer ${l} keeps`} value={kind} disabled={disabled}
                    onChange={(ev) => edit(l, withKind(e, ev.target.value as EntryKind, settings.keepRatio))}>
                    <option value="dense">dense</option>
                    <option value="keep">keep ratio</option>
                    <option value="threshold">threshold</option>
                  </select>
                </td>
                <td>
                  {value === null ? <span className="muted small">–</span> : (
                    <input data-testid={`policy-value-${l}`} aria-label={`layer ${l} ${kind === 'keep' ? 'keep ratio' : 'threshold'}`} type="number"
                      step={kind === 'keep' ? 0.05 : 0.1} min={0} max={kind === 'keep' ? 1 : undefined} value={value} disabled={disabled}
                      onChange={(ev) => edit(l, withValue(e, Number(ev.target.value)))} />
                  )}
                  {typeof e === 'object' && e?.predicted !== undefined && <span className="muted small" title="the factor the predictors' scores are held to"> predicted {e.predicted}</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <span className="small muted">from {from} </span>
      {source === 'settings' && (
        <button type="button" className="mini" data-testid="policy-reset" disabled={disabled} onClick={() => setSettings({ policy: null })}>
          {modelPolicy ? 'back to the model’s policy' : 'back to the default'}
        </button>
      )}
    </div>
  );
}

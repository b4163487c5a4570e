// The loaded model: what it is, how big, and which execution provider runs it.
import { useStudio } from '../store';
import { fmtBytes, fmtCount } from '../lib/format';

export function ModelCard() {
  const model = useStudio((s) => s.model);
  const files = useStudio((s) => s.modelFiles);
  const provider = useStudio((s) => s.provider);
  const providerReason = useStudio((s) => s.providerReason);
  const threads = useStudio((s) => s.threads);
  return (
    <section className="card" data-testid="model-card">
      <h2>Model</h2>
      {model ? (
        <dl data-weight-bytes={model.weightBytes} data-parameters={model.parameters} data-vocab={model.vocabSize} data-hidden={model.hidden}>
          <dt>name</dt><dd data-testid="model-name">{model.name}</dd>
          <dt>architecture</dt><dd>{model.architecture}</dd>
          <dt>parameters</dt><dd data-testid="model-parameters">{fmtCount(model.parameters)} ({fmtBytes(model.weightBytes)} in float32)</dd>
          <dt>shape</dt><dd>{model.layers} layers · hidden {model.hidden} · {model.heads} heads ({model.kvHeads} KV)</dd>
          <dt>vocabulary</dt><dd>{model.vocabSize} tokens · context {model.maxPositions}</dd>
          {files.map((f) => [<dt key={`t-${f.name}`}>file</dt>, <dd key={`d-${f.name}`}>{f.name} <span className="muted">{fmtBytes(f.bytes)}</span></dd>])}
        </dl>
      ) : <p className="muted">loading…</p>}
      <h3>Execution provider</h3>
      <p data-testid="provider"><strong>{provider ?? '…'}</strong>{provider === 'wasm' ? ` · ${threads} thread${threads > 1 ? 's' : ''}` : ''}</p>
      <p className="muted small" data-testid="provider-reason">{providerReason}</p>
    </section>
  );
}

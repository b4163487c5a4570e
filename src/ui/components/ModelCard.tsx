// The loaded model: what it is, how big, its predictors, and which execution provider runs it.
// A model folder dropped here (or picked) replaces it; a bad one leaves it loaded.
import { useState, type DragEvent } from 'react';
import { useStudio } from '../store';
import { loadModelFolder } from '../controller';
import { droppedFiles } from '../lib/model-folder';
import { fmtBytes, fmtCount } from '../lib/format';
import { policyText } from '../lib/sparsity-note';

export function ModelCard() {
  const model = useStudio((s) => s.model);
  const files = useStudio((s) => s.modelFiles);
  const loading = useStudio((s) => s.modelLoading);
  const predictors = useStudio((s) => s.predictors);
  const predictorsNote = useStudio((s) => s.predictorsNote);
  const provider = useStudio((s) => s.provider);
  const providerReason = useStudio((s) => s.providerReason);
  const threads = useStudio((s) => s.threads);
  const [over, setOver] = useState(false);
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const dropped = droppedFiles(e.dataTransfer);
    void dropped.then((f) => loadModelFolder(f));
  };
  return (
    <section className="card" data-testid="model-card">
      <h2>Model</h2>
      {model ? (
        <dl data-weight-bytes={model.weightBytes} data-parameters={model.parameters} data-vocab={model.vocabSize} data-hidden={model.hidden} data-layers={model.layers}>
          <dt>name</dt><dd data-testid="model-name">{model.name}</dd>
          <dt>architecture</dt><dd data-testid="model-architecture">{model.architecture}</dd>
          <dt>parameters</dt><dd data-testid="model-parameters">{fmtCount(model.parameters)} ({fmtBytes(model.weightBytes)} in float32)</dd>
          <dt>shape</dt><dd>{model.layers} layers · hidden {model.hidden} · {model.heads} heads ({model.kvHeads} KV)</dd>
          <dt>vocabulary</dt><dd>{model.vocabSize} tokens · context {model.maxPositions}</dd>
          {files.map((f) => [<dt key={`t-${f.name}`}>file</dt>, <dd key={`d-${f.name}`} data-testid="model-file" data-bytes={f.bytes}>{f.name} <span className="muted">{fmtBytes(f.bytes)}</span></dd>])}
          <dt>predictors</dt>
          <dd data-testid="predictors" data-loaded={predictors !== null}>
            {predictors
              ? <>{fmtCount(predictors.parameters)} parameters, blocks of {predictors.block} <span className="muted">{fmtBytes(predictors.bytes)}</span></>
              : <span className="muted">none ({predictorsNote})</span>}
          </dd>
          <dt>keep policy</dt>
          <dd data-testid="model-policy" data-loaded={!!model.policy}>
            {model.policy ? policyText(model.policy) : <span className="muted">the paper’s (no policy.json)</span>}
          </dd>
        </dl>
      ) : <p className="muted">loading…</p>}
      <label
        className={`drop drop-small ${over ? 'over' : ''}`}
        data-testid="model-drop-zone"
        onDragOver={(e) => { e.preventDefault(); setOver(true); }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        {loading ? <span data-testid="model-loading">loading {loading}…</span> : <>Drop a model folder here (config.json, model.safetensors, tokenizer.json), or click to choose one</>}
        <input
          type="file"
          data-testid="model-input"
          {...{ webkitdirectory: '', directory: '' }}
          onChange={(e) => { const list = [...(e.target.files ?? [])]; e.target.value = ''; void loadModelFolder(list); }}
        />
      </label>
      <h3>Execution provider</h3>
      <p data-testid="provider"><strong>{provider ?? '…'}</strong>{provider === 'wasm' ? ` · ${threads} thread${threads > 1 ? 's' : ''}` : ''}</p>
      <p className="muted small" data-testid="provider-reason">{providerReason}</p>
    </section>
  );
}

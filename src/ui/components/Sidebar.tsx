import { useState, type DragEvent } from 'react';
import { useStudio } from '../store';
import { addDataFiles, boot } from '../controller';
import type { ProviderChoice } from '../../worker/protocol';

const fmtBytes = (n: number) => (n > 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`);
const fmtCount = (n: number) => (n > 1e6 ? `${(n / 1e6).toFixed(2)} M` : n > 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));

function ModelCard() {
  const { model, provider, providerReason, threads } = useStudio();
  return (
    <section className="card" data-testid="model-card">
      <h2>Model</h2>
      {model ? (
        <dl>
          <dt>name</dt><dd data-testid="model-name">{model.name}</dd>
          <dt>architecture</dt><dd>{model.architecture}</dd>
          <dt>parameters</dt><dd>{fmtCount(model.parameters)} ({fmtBytes(model.weightBytes)} in float32)</dd>
          <dt>shape</dt><dd>{model.layers} layers · hidden {model.hidden} · {model.heads} heads ({model.kvHeads} KV) · vocab {model.vocabSize}</dd>
        </dl>
      ) : <p className="muted">loading…</p>}
      <h3>Execution provider</h3>
      <p data-testid="provider"><strong>{provider ?? '…'}</strong>{provider === 'wasm' ? ` · ${threads} thread${threads > 1 ? 's' : ''}` : ''}</p>
      <p className="muted small" data-testid="provider-reason">{providerReason}</p>
    </section>
  );
}

function DataCard() {
  const { dataFiles, dataset } = useStudio();
  const [over, setOver] = useState(false);
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    void addDataFiles([...e.dataTransfer.files]);
  };
  return (
    <section className="card" data-testid="data-card">
      <h2>Dataset</h2>
      <label
        className={`drop ${over ? 'over' : ''}`}
        data-testid="drop-zone"
        onDragOver={(e) => { e.preventDefault(); setOver(true); }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        Drop .txt, .md or .jsonl files here, or click to choose
        <input type="file" multiple accept=".txt,.md,.jsonl" data-testid="file-input" onChange={(e) => void addDataFiles([...(e.target.files ?? [])])} />
      </label>
      <ul className="files" data-testid="data-files">
        {dataFiles.map((f) => <li key={f.name}>{f.name} <span className="muted">{fmtBytes(f.bytes)}</span></li>)}
      </ul>
      {dataset && (
        <p className="small" data-testid="dataset-summary">
          {dataset.documents} documents · {fmtCount(dataset.tokens)} tokens · {dataset.windows} windows of {dataset.ctx}
        </p>
      )}
    </section>
  );
}

function Field(props: { label: string; hint: string; children: React.ReactNode }) {
  return (
    <label className="field">
      <span>{props.label}</span>
      {props.children}
      <small className="muted">{props.hint}</small>
    </label>
  );
}

function SettingsCard() {
  const { settings, setSettings, run } = useStudio();
  const busy = run === 'running' || run === 'paused';
  const num = (key: 'ctx' | 'steps' | 'lr' | 'loraR' | 'loraAlpha' | 'seed') => ({
    value: settings[key],
    disabled: busy,
    type: 'number' as const,
    onChange: (e: React.ChangeEvent<HTMLInputElement>) => setSettings({ [key]: Number(e.target.value) }),
  });
  return (
    <section className="card" data-testid="settings">
      <h2>Settings</h2>
      <Field label="Context length" hint="tokens per training window"><input data-testid="ctx" min={16} step={16} {...num('ctx')} /></Field>
      <Field label="Steps" hint="optimizer steps to run"><input data-testid="steps" min={1} {...num('steps')} /></Field>
      <Field label="Learning rate" hint="AdamW, no decay"><input data-testid="lr" step={0.0001} {...num('lr')} /></Field>
      <Field label="LoRA r / alpha" hint="rank and scale (alpha / r), on the attention projections">
        <span className="pair"><input data-testid="lora-r" min={1} {...num('loraR')} /><input data-testid="lora-alpha" min={1} {...num('loraAlpha')} /></span>
      </Field>
      <Field label="Seed" hint="data order and LoRA init"><input {...num('seed')} /></Field>
      <Field label="Execution provider" hint="auto picks WebGPU on a real GPU, WASM otherwise">
        <select
          data-testid="provider-select"
          value={settings.provider}
          disabled={busy}
          onChange={(e) => { setSettings({ provider: e.target.value as ProviderChoice }); void boot(); }}
        >
          <option value="auto">auto</option>
          <option value="webgpu">webgpu</option>
          <option value="wasm">wasm</option>
        </select>
      </Field>
    </section>
  );
}

export function Sidebar() {
  return (
    <aside className="sidebar">
      <ModelCard />
      <DataCard />
      <SettingsCard />
    </aside>
  );
}

// The run's settings; locked while a run is going.
import type { ChangeEvent } from 'react';
import { useStudio, type Settings } from '../store';
import { boot } from '../controller';
import type { ProviderChoice } from '../../worker/protocol';
import { Field } from './Field';

type NumberKey = 'ctx' | 'batch' | 'steps' | 'lr' | 'loraR' | 'loraAlpha' | 'seed' | 'block' | 'keepRatio';

export function SettingsCard() {
  const settings = useStudio((s) => s.settings);
  const setSettings = useStudio((s) => s.setSettings);
  const run = useStudio((s) => s.run);
  const busy = run === 'running' || run === 'paused';
  const dense = settings.sparsity === 'dense';
  const num = (key: NumberKey, disabled = false) => ({
    value: settings[key],
    disabled: busy || disabled,
    type: 'number' as const,
    onChange: (e: ChangeEvent<HTMLInputElement>) => setSettings({ [key]: Number(e.target.value) }),
  });
  return (
    <section className="card" data-testid="settings">
      <h2>Settings</h2>
      <Field label="Context length" hint="tokens per training window"><input data-testid="ctx" min={16} step={16} {...num('ctx')} /></Field>
      <Field label="Batch / steps" hint="windows per step; optimizer steps to run">
        <span className="pair"><input data-testid="batch" min={1} {...num('batch')} /><input data-testid="steps" min={1} {...num('steps')} /></span>
      </Field>
      <Field label="Learning rate" hint="AdamW, no decay"><input data-testid="lr" step={0.0001} {...num('lr')} /></Field>
      <Field label="LoRA r / alpha" hint="rank and scale (alpha / r), on the attention projections">
        <span className="pair"><input data-testid="lora-r" min={1} {...num('loraR')} /><input data-testid="lora-alpha" min={1} {...num('loraAlpha')} /></span>
      </Field>
      <Field label="Token elimination" hint="LeMo: the oracle picks each layer's blocks; dense keeps every token">
        <select
          data-testid="sparsity-select"
          value={settings.sparsity}
          disabled={busy}
          onChange={(e) => setSettings({ sparsity: e.target.value as Settings['sparsity'] })}
        >
          <option value="oracle">LeMo (oracle, paper policy)</option>
          <option value="dense">dense</option>
        </select>
      </Field>
      <Field label="Block / keep ratio" hint="tokens per block; share of blocks the sparse layers keep">
        <span className="pair"><input data-testid="block" min={1} {...num('block', dense)} /><input data-testid="keep-ratio" min={0.05} max={1} step={0.05} {...num('keepRatio', dense)} /></span>
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

// The run's settings; locked while a run is going.
import type { ChangeEvent } from 'react';
import { useStudio, type Settings } from '../store';
import { changeProvider } from '../controller';
import { blockSources, settingsProblem } from '../lib/run-settings';
import type { ProviderChoice } from '../../worker/protocol';
import { Field } from './Field';

type NumberKey = 'ctx' | 'batch' | 'steps' | 'lr' | 'loraR' | 'loraAlpha' | 'seed' | 'block' | 'keepRatio' | 'evalEvery' | 'evalChunks' | 'recallEvery' | 'checkpointEvery';

export function SettingsCard() {
  const settings = useStudio((s) => s.settings);
  const setSettings = useStudio((s) => s.setSettings);
  const run = useStudio((s) => s.run);
  const busy = run === 'running' || run === 'paused';
  const predictors = useStudio((s) => s.predictors);
  const predictorsNote = useStudio((s) => s.predictorsNote);
  const dense = settings.sparsity === 'dense';
  const lemo = settings.sparsity === 'lemo';
  // The model folder's policy.json is the run's policy, with its block (sparsity/run-policy.ts).
  const modelPolicy = useStudio((s) => s.model?.policy ?? null);
  const policyName = modelPolicy ? 'LeMo, the model’s policy.json' : 'LeMo, the paper’s policy';
  const blockFixed = lemo && predictors ? { value: predictors.block } : modelPolicy ? { value: modelPolicy.block } : {};
  const problem = useStudio((s) => (busy ? null : settingsProblem(s.settings, blockSources(s))));
  const num = (key: NumberKey, disabled = false) => ({
    value: settings[key] ?? 0,
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
      <Field
        label="Token elimination"
        hint={predictors
          ? `${policyName}. lemo: learned predictors pick each layer’s blocks; oracle: exact attention scores pick them; dense keeps every token`
          : `${policyName}. oracle: exact attention scores pick each layer’s blocks; dense keeps every token. lemo needs predictors: ${predictorsNote}`}
      >
        <select
          data-testid="sparsity-select"
          value={settings.sparsity}
          disabled={busy}
          onChange={(e) => setSettings({ sparsity: e.target.value as Settings['sparsity'] })}
        >
          <option value="lemo" disabled={!predictors}>lemo (predictors){predictors ? '' : ' · unavailable'}</option>
          <option value="oracle">oracle (exact scores)</option>
          <option value="dense">dense</option>
        </select>
      </Field>
      <Field label="Block / keep ratio" hint={lemo && predictors ? `the predictors' blocks (${predictors.block} tokens); ${modelPolicy ? 'the model’s policy.json sets what each layer keeps' : 'share of blocks the sparse layers keep'}` : modelPolicy ? `the model’s policy.json sets both (blocks of ${modelPolicy.block})` : 'tokens per block; share of blocks the sparse layers keep'}>
        <span className="pair">
          <input data-testid="block" min={1} {...num('block', dense || lemo || !!modelPolicy)} {...blockFixed} />
          <input data-testid="keep-ratio" min={0.05} max={1} step={0.05} {...num('keepRatio', dense || !!modelPolicy)} />
        </span>
      </Field>
      {lemo && (
        <Field label="Recall every" hint="steps between measurements of the predictors' recall (each runs the exact scores too); 0: never">
          <input data-testid="recall-every" min={0} {...num('recallEvery')} />
        </Field>
      )}
      <Field label="Held-out every / chunks" hint="steps between held-out perplexity evaluations (0: never); chunks of context length evaluated each time">
        <span className="pair"><input data-testid="eval-every" min={0} {...num('evalEvery')} /><input data-testid="eval-chunks" min={1} {...num('evalChunks')} /></span>
      </Field>
      <Field label="Seed" hint="data order and LoRA init"><input {...num('seed')} /></Field>
      <Field label="Checkpoint every" hint="steps; a reload or crash resumes from the last one (0: off)"><input data-testid="checkpoint-every" min={0} {...num('checkpointEvery')} /></Field>
      {problem && <p className="small field-error" data-testid="settings-problem">{problem}</p>}
      <Field label="Execution provider" hint="auto picks WebGPU on a real GPU, WASM otherwise">
        <select
          data-testid="provider-select"
          value={settings.provider}
          disabled={busy}
          onChange={(e) => void changeProvider(e.target.value as ProviderChoice)}
        >
          <option value="auto">auto</option>
          <option value="webgpu">webgpu</option>
          <option value="wasm">wasm</option>
        </select>
      </Field>
    </section>
  );
}

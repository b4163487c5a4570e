// The run's settings; locked while a run is going.
import { useEffect, useState, type ChangeEvent } from 'react';
import { useStudio, type Settings } from '../store';
import { changeProvider } from '../controller';
import { blockSources, settingsIssue } from '../lib/run-settings';
import { parseTargets } from '../lib/policy-table';
import { PolicyTable } from './PolicyTable';
import type { ProviderChoice } from '../../worker/protocol';
import { Field } from './Field';
import { ropeForContext } from '../lib/rope-scale';

type NumberKey = 'ctx' | 'batch' | 'steps' | 'lr' | 'loraR' | 'loraAlpha' | 'seed' | 'block' | 'keepRatio' | 'evalEvery' | 'evalChunks' | 'recallEvery' | 'checkpointEvery' | 'warmup' | 'weightDecay';

export function SettingsCard() {
  const settings = useStudio((s) => s.settings);
  const setSettings = useStudio((s) => s.setSettings);
  const setState = useStudio((s) => s.set);
  const ropeNote = useStudio((s) => s.ropeNote);
  const loaded = useStudio((s) => s.model);
  const positions = loaded && { maxPositions: loaded.maxPositions, ropeScale: loaded.ropeScale };
  const run = useStudio((s) => s.run);
  const busy = run === 'running' || run === 'paused';
  const predictors = useStudio((s) => s.predictors);
  const predictorsNote = useStudio((s) => s.predictorsNote);
  const dense = settings.sparsity === 'dense';
  const lemo = settings.sparsity === 'lemo';
  // The model folder's policy.json is the run's policy, with its block (sparsity/run-policy.ts).
  const modelPolicy = useStudio((s) => s.model?.policy ?? null);
  const policyName = modelPolicy ? 'LeMo, the model’s policy.json' : 'LeMo, the paper’s policy';
  const ownPolicy = settings.policy !== null;
  const blockFixed = lemo && predictors ? { value: predictors.block } : modelPolicy && !ownPolicy ? { value: modelPolicy.block } : {};
  // Selected as strings: a selector's new object each render would render again without end.
  const issueField = useStudio((s) => (busy ? null : settingsIssue(s.settings, blockSources(s))?.field ?? null));
  const issueMessage = useStudio((s) => (busy ? null : settingsIssue(s.settings, blockSources(s))?.message ?? null));
  const issue = issueField !== null && issueMessage !== null ? { field: issueField, message: issueMessage } : null;
  const family = useStudio((s) => s.model?.family ?? null);
  const f = (...fields: string[]) => ({ issue, fields });
  // Target modules are typed as text; the settings hold the names.
  const [targetsText, setTargetsText] = useState(settings.targetModules.join(', '));
  useEffect(() => {
    if (parseTargets(targetsText).join(',') !== settings.targetModules.join(',')) setTargetsText(settings.targetModules.join(', '));
  }, [settings.targetModules]); // eslint-disable-line react-hooks/exhaustive-deps
  const modelMlp = modelPolicy?.mlpKeep ?? null;
  const num = (key: NumberKey, disabled = false) => ({
    value: settings[key] ?? 0,
    disabled: busy || disabled,
    type: 'number' as const,
    onChange: (e: ChangeEvent<HTMLInputElement>) => setSettings({ [key]: Number(e.target.value) }),
  });
  return (
    <section className="card" data-testid="settings">
      <h2>Settings</h2>
      <Field label="Context length" hint="tokens per training window" {...f('ctx')}>
        <input data-testid="ctx" min={16} step={16} {...num('ctx')} onChange={(e) => {
          const r = ropeForContext(Number(e.target.value), positions, { ropeScale: settings.ropeScale, note: ropeNote });
          setSettings({ ctx: Number(e.target.value), ropeScale: r.ropeScale });
          setState({ ropeNote: r.note });
        }} />
      </Field>
      <Field label="RoPE scale" {...f('rope-scale')} hint={positions?.ropeScale != null
        ? `linear position scaling: the model reaches its ${positions.maxPositions} positions × this many tokens; empty: the model’s own (${positions.ropeScale})`
        : 'this model’s positions cannot be scaled linearly (learned positions, or RoPE scaling of its own)'}>
        <input data-testid="rope-scale" type="number" min={1} step={1} placeholder={String(positions?.ropeScale ?? 1)} disabled={busy || positions?.ropeScale == null}
          value={settings.ropeScale ?? ''} onChange={(e) => { setSettings({ ropeScale: e.target.value === '' ? null : Number(e.target.value) }); setState({ ropeNote: null }); }} />
        {ropeNote && <small className="note" data-testid="rope-note">{ropeNote}</small>}
      </Field>
      <Field label="Batch / steps" hint="windows per step; optimizer steps to run" {...f('batch', 'steps')}>
        <span className="pair"><input data-testid="batch" min={1} {...num('batch')} /><input data-testid="steps" min={1} {...num('steps')} /></span>
      </Field>
      <Field label="Learning rate" hint="AdamW's (the peak, under a schedule)" {...f('lr')}><input data-testid="lr" step={0.0001} {...num('lr')} /></Field>
      <Field label="Schedule / warm-up / weight decay" hint="the learning rate over the run, constant or cosine down to 0, after this many steps of linear warm-up from 0; AdamW's decoupled weight decay of the LoRA factors" {...f('warmup', 'weight-decay')}>
        <span className="pair triple">
          <select data-testid="schedule" value={settings.schedule} disabled={busy} onChange={(e) => setSettings({ schedule: e.target.value as Settings['schedule'] })}>
            <option value="constant">constant</option>
            <option value="cosine">cosine</option>
          </select>
          <input data-testid="warmup" min={0} {...num('warmup')} />
          <input data-testid="weight-decay" min={0} step={0.01} {...num('weightDecay')} />
        </span>
      </Field>
      <Field label="LoRA r / alpha" hint="rank and scale (alpha / r)" {...f('lora-r', 'lora-alpha')}>
        <span className="pair"><input data-testid="lora-r" min={1} {...num('loraR')} /><input data-testid="lora-alpha" min={1} {...num('loraAlpha')} /></span>
      </Field>
      <Field label="LoRA target modules" {...f('target-modules')} hint={`module names, separated by commas; empty: the attention projections${family === 'llama' ? ' (q_proj, k_proj, v_proj, o_proj)' : family === 'gpt2' ? ' (c_attn, attn.c_proj)' : ''}`}>
        <input data-testid="target-modules" type="text" placeholder="attention projections" disabled={busy} value={targetsText}
          onChange={(e) => { setTargetsText(e.target.value); setSettings({ targetModules: parseTargets(e.target.value) }); }} />
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
      <Field label="Block / keep ratio" {...f('block', 'keep-ratio')} hint={lemo && predictors ? `the predictors' blocks (${predictors.block} tokens); the per-layer policy below sets what each layer keeps` : modelPolicy && !ownPolicy ? `the model’s policy.json sets the block (${modelPolicy.block}) and what each layer keeps` : 'tokens per block; share of blocks the sparse layers keep under the paper’s policy'}>
        <span className="pair">
          <input data-testid="block" min={1} {...num('block', dense || (lemo && !!predictors) || (!!modelPolicy && !ownPolicy))} {...blockFixed} />
          <input data-testid="keep-ratio" min={0.05} max={1} step={0.05} {...num('keepRatio', dense || !!modelPolicy || ownPolicy)} />
        </span>
      </Field>
      <Field group label="Per-layer policy" {...f('policy')} hint="per layer: dense (every token), a keep ratio (share of blocks kept), or a threshold (blocks whose score reaches that multiple of the layer’s mean); the first edit makes it this run’s own policy">
        <PolicyTable disabled={busy || dense} />
      </Field>
      <Field label="MLP channels kept" {...f('mlp-keep')} hint={`share of MLP channels the backward keeps in every layer of a sparse run; 1: all; empty: ${modelMlp !== null ? `the model policy’s ${modelMlp}` : 'all'}`}>
        <input data-testid="mlp-keep" type="number" min={0.05} max={1} step={0.05} placeholder={modelMlp !== null ? String(modelMlp) : '1'} disabled={busy || dense}
          value={settings.mlpKeep ?? ''} onChange={(e) => setSettings({ mlpKeep: e.target.value === '' ? null : Number(e.target.value) })} />
      </Field>
      <Field label="Attention / group" {...f('group')} hint={settings.attention === 's2' ? 'shifted sparse attention while training (LongLoRA\u2019s S\u00b2-Attn): tokens attend within groups of this many positions, half of the heads shifted by half a group; empty: a quarter of the context. Evaluation stays full' : 'full causal attention over the window; S\u00b2-Attn attends within shifted groups while training'}>
        <span className="pair">
          <select data-testid="attention" value={settings.attention} disabled={busy} onChange={(e) => setSettings({ attention: e.target.value as Settings['attention'] })}>
            <option value="full">full</option>
            <option value="s2">shifted sparse (S²)</option>
          </select>
          <input data-testid="group" type="number" min={2} step={2} placeholder={String(settings.ctx / 4)} disabled={busy || settings.attention !== 's2'}
            value={settings.group ?? ''} onChange={(e) => setSettings({ group: e.target.value === '' ? null : Number(e.target.value) })} />
        </span>
      </Field>
      <Field label="Offload activations" hint="host: each layer's saved activations wait in host memory between its forward and backward, brought back one layer ahead (off the GPU's buffers under WebGPU; under WASM they already sit outside its heap). disk: they wait in this browser's storage (its origin-private file system), so only about two layers' worth stay in memory, for longer contexts than the tab's memory holds; removed after the run. Same losses">
        <select data-testid="offload" value={settings.offload} disabled={busy} onChange={(e) => setSettings({ offload: e.target.value as Settings['offload'] })}>
          <option value="none">none</option>
          <option value="host">host memory</option>
          <option value="disk">disk (browser storage)</option>
        </select>
      </Field>
      {lemo && (
        <Field label="Recall every" hint="steps between measurements of the predictors' recall (each runs the exact scores too); 0: never" {...f('recall-every')}>
          <input data-testid="recall-every" min={0} {...num('recallEvery')} />
        </Field>
      )}
      <Field label="Held-out every / chunks" hint="steps between held-out perplexity evaluations (0: never); chunks of context length evaluated each time" {...f('eval-every', 'eval-chunks')}>
        <span className="pair"><input data-testid="eval-every" min={0} {...num('evalEvery')} /><input data-testid="eval-chunks" min={1} {...num('evalChunks')} /></span>
      </Field>
      <Field label="Seed" hint="data order and LoRA init" {...f('seed')}><input data-testid="seed" {...num('seed')} /></Field>
      <Field label="Checkpoint every" hint="steps; a reload or crash resumes from the last one (0: off)" {...f('checkpoint-every')}><input data-testid="checkpoint-every" min={0} {...num('checkpointEvery')} /></Field>
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

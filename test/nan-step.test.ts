// A step whose loss is NaN is skipped (nothing applied), reported, and the run goes on with half
// the learning rate; several in a row stop the run with a sentence. The NaN comes from the
// model itself: the default model with its LM head untied (a copy) and NaN written into the
// input embedding of tokens that only some of the run's windows contain.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, EngineSession, type TrainSettings } from '../src/engine/session';
import type { EngineEvent, SkippedEvent, StepEvent } from '../src/engine/events';
import { BAD_STEPS_LIMIT } from '../src/engine/run/journal';
import { decodeCheckpoint } from '../src/engine/run/checkpoint';
import { decodeDataset, parseDataset, WindowSampler, windows } from '../src/engine/train/data';
import { readSafetensors, writeSafetensors } from '../src/engine/model/safetensors';
import { readJson, readModelDir } from '../src/cli/files';
import { nodeRuntime } from './helpers/runtime';

const MODEL = 'public/models/lemo-tiny';
const docs = parseDataset('train.jsonl.gz', decodeDataset('train.jsonl.gz', readFileSync('public/data/books-short/train.jsonl.gz'))).slice(0, 3);
const settings: TrainSettings = { ...DEFAULT_SETTINGS, sparsity: 'oracle', ctx: 64, steps: 7, lr: 2e-3, seed: 3, checkpointEvery: 1 };
const tokenizer = { tokenizer: readJson(join(MODEL, 'tokenizer.json'), 'tokenizer.json'), tokenizerConfig: readJson(join(MODEL, 'tokenizer_config.json'), 'tokenizer_config.json') };

/** The windows the run draws, step by step (the session's sampler with the same seed). */
async function drawn(steps: number): Promise<number[][]> {
  const s = new EngineSession(await nodeRuntime(), () => {});
  s.loadModel({ ...readModelDir(MODEL), ...tokenizer });
  const sampler = new WindowSampler(windows(s.tokenize(docs), settings.ctx), settings.seed);
  return Array.from({ length: steps }, () => sampler.next(1)[0]);
}

/** A token in window `i` and in no other drawn window. */
function onlyIn(ws: number[][], i: number): number {
  const elsewhere = new Set(ws.filter((_, j) => j !== i).flat());
  const t = ws[i].find((x) => !elsewhere.has(x));
  if (t === undefined) throw new Error(`window ${i} has no token of its own`);
  return t;
}

/** The default model's folder with the head untied (a copy) and NaN in the embedding rows of `poisoned`. */
function poisonedFiles(poisoned: number[]) {
  const files = readModelDir(MODEL);
  const tensors = readSafetensors(new Uint8Array(readFileSync(join(MODEL, 'model.safetensors'))));
  const embed = tensors.get('model.embed_tokens.weight')!;
  const plain = new Map([...tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
  plain.set('lm_head.weight', { shape: embed.shape, data: Float32Array.from(embed.data) });
  const C = embed.shape[1];
  for (const id of poisoned) embed.data.fill(NaN, id * C, (id + 1) * C);
  return { config: { ...(files.config as object), tie_word_embeddings: false }, weights: writeSafetensors(plain) };
}

/** A session on that model. */
async function poisonedSession(poisoned: number[], events: EngineEvent[]): Promise<EngineSession> {
  const s = new EngineSession(await nodeRuntime(), (e) => events.push(e));
  s.loadModel({ ...poisonedFiles(poisoned), ...tokenizer });
  return s;
}

describe('a NaN loss in a step', () => {
  it('skips that step without touching the adapter, halves the learning rate and trains on', async () => {
    const ws = await drawn(settings.steps);
    const events: EngineEvent[] = [];
    const s = await poisonedSession([onlyIn(ws, 2)], events);
    const saved = new Map<number, Uint8Array>();
    const r = await s.train(docs, settings, undefined, { onCheckpoint: async (b, step) => void saved.set(step, b) });
    expect(r.steps).toBe(7);
    const steps = events.filter((e): e is StepEvent => e.type === 'step');
    const skipped = events.filter((e): e is SkippedEvent => e.type === 'skipped');
    expect(steps.map((e) => e.step)).toEqual([1, 2, 4, 5, 6, 7]);
    expect(steps.every((e) => Number.isFinite(e.loss))).toBe(true);
    expect(skipped).toHaveLength(1);
    expect(skipped[0].step).toBe(3);
    expect(Number.isNaN(skipped[0].loss)).toBe(true);
    expect(skipped[0].lr).toBe(settings.lr / 2);
    expect(skipped[0].message).toBe('step 3: the loss was NaN; the step was skipped (nothing applied) and the learning rate lowered to 0.001.');
    expect(events.at(-1)).toMatchObject({ type: 'status', state: 'finished' });

    // Nothing applied at step 3: the LoRA factors and AdamW moments after it are those after step 2.
    const [c2, c3, c4] = [2, 3, 4].map((k) => decodeCheckpoint(saved.get(k)!));
    expect(c3.state.steps).toBe(2);
    expect(c3.run.optimizer.settings.lr).toBe(settings.lr / 2);
    for (let i = 0; i < c2.state.params.length; i++) {
      expect(c3.state.params[i].value).toEqual(c2.state.params[i].value);
      expect(c3.state.params[i].m).toEqual(c2.state.params[i].m);
    }
    // Step 4 trains again, at the lowered rate.
    expect(c4.state.steps).toBe(3);
    expect(c4.state.params[0].value).not.toEqual(c3.state.params[0].value);
    expect([...c4.state.params[0].value].every(Number.isFinite)).toBe(true);
  });

  it(`stops with a sentence after ${BAD_STEPS_LIMIT} in a row, keeping the adapter of the last good step`, async () => {
    const ws = await drawn(settings.steps);
    const events: EngineEvent[] = [];
    const bad = [1, 2, 3].map((i) => onlyIn(ws, i));
    const s = await poisonedSession(bad, events);
    const saved = new Map<number, Uint8Array>();
    await expect(s.train(docs, settings, undefined, { onCheckpoint: async (b, step) => void saved.set(step, b) })).rejects.toThrow(
      /^Training stopped at step 4: the loss was NaN or infinite in 3 steps in a row, even with the learning rate lowered to 0\.00025\. The adapter keeps its last good update\./,
    );
    expect(events.filter((e) => e.type === 'skipped').map((e) => (e as SkippedEvent).lr)).toEqual([1e-3, 5e-4, 2.5e-4]);
    const after1 = decodeCheckpoint(saved.get(1)!);
    const exported = readSafetensors((await s.exportAdapter('lemo-tiny')).weights);
    for (const p of after1.state.params) expect(exported.get(p.peft)!.data).toEqual(p.value);
  });

  it('lemo train stopped so writes the adapter of the last good step to --out, says so, and exits 2', async () => {
    const ws = await drawn(settings.steps);
    const dir = mkdtempSync(join(tmpdir(), 'lemo-nan-'));
    const model = join(dir, 'model');
    mkdirSync(model);
    const files = poisonedFiles([1, 2, 3].map((i) => onlyIn(ws, i)));
    writeFileSync(join(model, 'config.json'), JSON.stringify(files.config));
    writeFileSync(join(model, 'model.safetensors'), files.weights);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(MODEL, f), join(model, f));
    const data = join(dir, 'data.jsonl');
    writeFileSync(data, docs.map((d) => JSON.stringify({ text: d.text })).join('\n'));
    const lemo = (steps: number, out: string) =>
      spawnSync(process.execPath, ['bin/lemo.js', 'train', '--model', model, '--data', data, '--sparsity', 'dense', '--ctx', String(settings.ctx), '--lr', String(settings.lr), '--seed', String(settings.seed), '--steps', String(steps), '--backend', 'wasm', '--out', join(dir, out)], { encoding: 'utf8' });
    const stopped = lemo(settings.steps, 'stopped');
    expect(stopped.stderr).toMatch(/^lemo: Training stopped at step 4: .* The adapter as it was after step 1 was written to .*stopped\.$/m);
    expect(stopped.stderr).not.toMatch(/internal error|    at /);
    expect(stopped.status).toBe(2);
    // The adapter written is the one a run of that one good step writes.
    expect(lemo(1, 'one').status).toBe(0);
    const [a, b] = ['stopped', 'one'].map((o) => readFileSync(join(dir, o, 'adapter_model.safetensors')));
    expect(Buffer.compare(a, b)).toBe(0);
    expect(readFileSync(join(dir, 'stopped', 'adapter_config.json'), 'utf8')).toBe(readFileSync(join(dir, 'one', 'adapter_config.json'), 'utf8'));
  });
});

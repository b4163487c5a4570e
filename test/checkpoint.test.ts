// Checkpoints: a run stopped after a checkpoint and resumed from it gives the same losses and
// the same adapter as a run that never stopped, in the engine and through `lemo train`
// killed mid-run.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, EngineSession, type TrainSettings } from '../src/engine/session';
import type { EngineEvent, StepEvent } from '../src/engine/events';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../src/engine/run/checkpoint';
import { decodeDataset, parseDataset, WindowSampler } from '../src/engine/train/data';
import { readSafetensors } from '../src/engine/model/safetensors';
import { readJson, readModelDir } from '../src/cli/files';
import { nodeRuntime } from './helpers/runtime';

const MODEL = 'public/models/lemo-tiny';
const DATA = 'public/data/books-long/train.jsonl.gz';
const docs = parseDataset('train.jsonl.gz', decodeDataset('train.jsonl.gz', readFileSync(DATA))).slice(0, 3);
const settings: TrainSettings = { ...DEFAULT_SETTINGS, sparsity: 'oracle', ctx: 64, steps: 6, lr: 2e-3, checkpointEvery: 2, seed: 5 };

async function session(events: EngineEvent[] = []): Promise<EngineSession> {
  const s = new EngineSession(await nodeRuntime(), (e) => events.push(e));
  s.loadModel({ ...readModelDir(MODEL), tokenizer: readJson(join(MODEL, 'tokenizer.json'), 'tokenizer.json'), tokenizerConfig: readJson(join(MODEL, 'tokenizer_config.json'), 'tokenizer_config.json') });
  return s;
}

const losses = (events: EngineEvent[]) => events.filter((e): e is StepEvent => e.type === 'step').map((e) => [e.step, e.loss]);

async function adapter(s: EngineSession) {
  return readSafetensors((await s.exportAdapter('lemo-tiny')).weights);
}

function expectSameAdapter(a: Awaited<ReturnType<typeof adapter>>, b: Awaited<ReturnType<typeof adapter>>) {
  expect([...a.keys()]).toEqual([...b.keys()]);
  let worst = 0;
  for (const [name, t] of a) {
    const u = b.get(name)!.data;
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i] - u[i]));
  }
  expect(worst).toBeLessThanOrEqual(1e-6);
}

describe('checkpoints', () => {
  it('a run stopped after step 3 and resumed from its step-2 checkpoint matches an uninterrupted run', async () => {
    const fullEvents: EngineEvent[] = [];
    const full = await session(fullEvents);
    const written: number[] = [];
    await full.train(docs, settings, undefined, { onCheckpoint: async (_b, step) => void written.push(step) });
    expect(written).toEqual([2, 4]); // every 2 steps, not after the last
    const fullAdapter = await adapter(full);

    const cutEvents: EngineEvent[] = [];
    const cut = await session(cutEvents);
    let saved: Uint8Array | null = null;
    const cutRun = cut.train(docs, settings, undefined, { onCheckpoint: async (b) => void (saved = b) });
    // Stop once step 3 is reported: the run ends with the step-2 checkpoint the latest.
    while (!cutEvents.some((e) => e.type === 'step' && e.step === 3)) await new Promise((r) => setTimeout(r, 5));
    cut.setControl('stop');
    expect((await cutRun).steps).toBeLessThan(4);
    const ck = decodeCheckpoint(saved!);
    expect(ck.run.step).toBe(2);
    expect(ck.run.history.map((e) => e.step)).toEqual([1, 2]);
    expect(ck.state.steps).toBe(2);
    expect(ck.state.params.every((p) => p.m && p.v)).toBe(true);

    const resumedEvents: EngineEvent[] = [];
    const resumed = await session(resumedEvents);
    await resumed.train(docs, ck.run.settings, undefined, { resume: ck });
    const again = resumedEvents.find((e) => e.type === 'resumed');
    expect(again && again.type === 'resumed' && again.history.map((e) => e.loss)).toEqual(losses(fullEvents).slice(0, 2).map(([, l]) => l));
    const want = losses(fullEvents).slice(2);
    const got = losses(resumedEvents);
    expect(got.map(([s]) => s)).toEqual([3, 4, 5, 6]);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i][1] - want[i][1])).toBeLessThanOrEqual(1e-6 * Math.abs(want[i][1]));
    // The losses move: equality is not a flat curve.
    expect(new Set(want.map(([, l]) => l)).size).toBe(want.length);
    expectSameAdapter(await adapter(resumed), fullAdapter);
  });

  it('refuses to resume on other data with a sentence, and keeps the checkpoint usable', async () => {
    const s = await session();
    let saved: Uint8Array | null = null;
    await s.train(docs, { ...settings, steps: 3 }, undefined, { onCheckpoint: async (b) => void (saved = b) });
    const ck = decodeCheckpoint(saved!);
    const other = await session();
    await expect(other.train(docs.slice(0, 2), ck.run.settings, undefined, { resume: ck })).rejects.toThrow(/made on other data/);
    await expect(other.exportAdapter('x')).rejects.toThrow(/Nothing has been trained yet/);
  });

  it('reads back what it wrote, and names a file that is not a checkpoint', () => {
    const ck: Checkpoint = {
      run: {
        step: 4, settings, dataset: { hash: 'ab', documents: 1, windows: 9 }, model: { architecture: 'LlamaForCausalLM', parameters: 10, layers: 1, vocabSize: 5 },
        sampler: { epoch: 1, at: 3, windows: 9 }, optimizer: { steps: 3, settings: { lr: 5e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } },
        badInARow: 1, history: [], skipped: [{ type: 'skipped', step: 4, loss: NaN, lr: 5e-4, message: 'm' }],
      },
      state: {
        steps: 3, optimizer: { lr: 5e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
        params: [{ peft: 'x.lora_A.weight', shape: [2, 3], value: Float32Array.of(1, 2, 3, 4, 5, 6), m: Float32Array.of(0, 1, 0, 1, 0, 1), v: Float32Array.of(6, 5, 4, 3, 2, 1) }],
      },
    };
    const back = decodeCheckpoint(encodeCheckpoint(ck));
    expect(back.run.sampler).toEqual(ck.run.sampler);
    expect(back.run.optimizer.settings.lr).toBe(5e-4);
    expect(back.state.params[0].shape).toEqual([2, 3]);
    expect([...back.state.params[0].m!]).toEqual([0, 1, 0, 1, 0, 1]);
    expect([...back.state.params[0].v!]).toEqual([6, 5, 4, 3, 2, 1]);
    const adapterOnly = readFileSync('test/fixtures/golden/llama-gqa/adapter/adapter_model.safetensors');
    expect(() => decodeCheckpoint(new Uint8Array(adapterOnly), 'adapter.safetensors')).toThrow(/adapter\.safetensors is not a LeMo Studio checkpoint/);
    expect(() => decodeCheckpoint(encodeCheckpoint(ck).slice(0, 100), 'cut.safetensors')).toThrow(/cut\.safetensors/);
  });

  it('the window sampler continues from a saved position as if never stopped', () => {
    const all = Array.from({ length: 5 }, (_, i) => [i]);
    const a = new WindowSampler(all, 9);
    const first = Array.from({ length: 7 }, () => a.next(1)[0][0]);
    const b = new WindowSampler(all, 9);
    b.restore(a.state);
    expect(a.state).toEqual({ epoch: 1, at: 2, windows: 5 });
    expect(Array.from({ length: 9 }, () => b.next(1)[0][0])).toEqual(Array.from({ length: 9 }, () => a.next(1)[0][0]));
    expect(first).toHaveLength(7);
    expect(() => new WindowSampler(all.slice(0, 4), 9).restore({ epoch: 1, at: 2, windows: 5 })).toThrow(/does not fit this dataset of 4 windows/);
  });

  it('lemo train killed mid-run and run again with --resume writes the adapter an uninterrupted run writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lemo-ck-'));
    const data = join(dir, 'data.jsonl');
    writeFileSync(data, docs.map((d) => JSON.stringify({ text: d.text })).join('\n'));
    const args = ['bin/lemo.js', 'train', '--model', MODEL, '--sparsity', 'dense', '--data', data, '--ctx', '64', '--steps', '6', '--lr', '2e-3', '--seed', '5', '--backend', 'wasm'];
    execFileSync('node', [...args, '--out', join(dir, 'full')], { stdio: 'pipe' });

    const ckDir = join(dir, 'ck');
    const child = spawn('node', [...args, '--out', join(dir, 'never'), '--checkpoint-dir', ckDir, '--checkpoint-every', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        // Killed (SIGKILL, as a crash) while step 3 or later runs, after the step-2 checkpoint.
        if (/checkpoint after step 2/.test(stderr)) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`lemo train ended before its first checkpoint:\n${stderr}`)));
    });
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(join(dir, 'never'))).toBe(false);
    const out = execFileSync('node', ['bin/lemo.js', 'train', '--resume', ckDir, '--out', join(dir, 'resumed'), '--backend', 'wasm'], { encoding: 'utf8', stdio: 'pipe' });
    expect(JSON.parse(out).steps).toBe(6);
    const a = readSafetensors(new Uint8Array(readFileSync(join(dir, 'full', 'adapter_model.safetensors'))));
    const b = readSafetensors(new Uint8Array(readFileSync(join(dir, 'resumed', 'adapter_model.safetensors'))));
    expectSameAdapter(b, a);
    expect(decodeCheckpoint(new Uint8Array(readFileSync(join(ckDir, 'checkpoint.safetensors')))).run.step).toBe(4);
  });
});

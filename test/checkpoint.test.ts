// Checkpoints: a run stopped after a checkpoint and resumed from it gives the same losses and
// the same adapter as a run that never stopped, in the engine and through `lemo train`
// killed mid-run.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, EngineSession, type TrainSettings } from '../src/engine/session';
import type { EngineEvent, StepEvent } from '../src/engine/events';
import type { Document } from '../src/engine/train/data';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../src/engine/run/checkpoint';
import { RunStopped, UserError } from '../src/engine/errors';
import { weightsHash } from '../src/engine/model/weights-hash';
import { checkpointDir, LOCK_FILE, readCheckpointDir } from '../src/cli/checkpoint-dir';
import { decodeDataset, parseDataset, WindowSampler } from '../src/engine/train/data';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../src/engine/model/safetensors';
import { readJson, readModelDir } from '../src/cli/files';
import { nodeRuntime } from './helpers/runtime';

const MODEL = 'public/models/lemo-tiny';
const DATA = 'public/data/books-short/train.jsonl.gz';
const docs = parseDataset('train.jsonl.gz', decodeDataset('train.jsonl.gz', readFileSync(DATA))).slice(0, 3);
const settings: TrainSettings = { ...DEFAULT_SETTINGS, sparsity: 'oracle', ctx: 64, steps: 6, lr: 2e-3, checkpointEvery: 2, seed: 5 };

async function session(events: EngineEvent[] = [], weights?: Uint8Array): Promise<EngineSession> {
  const s = new EngineSession(await nodeRuntime(), (e) => events.push(e));
  const files = readModelDir(MODEL);
  s.loadModel({ ...files, weights: weights ?? files.weights, tokenizer: readJson(join(MODEL, 'tokenizer.json'), 'tokenizer.json'), tokenizerConfig: readJson(join(MODEL, 'tokenizer_config.json'), 'tokenizer_config.json') });
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

/** The bytes of a checkpoint after step 2 of a 3-step dense run (made once per file). */
let stepTwo: Promise<Uint8Array> | null = null;
function checkpointAtTwo(): Promise<Uint8Array> {
  stepTwo ??= (async () => {
    const s = await session();
    let saved: Uint8Array | null = null;
    await s.train(docs, { ...settings, sparsity: 'dense', steps: 3 }, undefined, { onCheckpoint: async (b) => void (saved = b) });
    return saved!;
  })();
  return stepTwo;
}

/** Resumes a checkpoint in a fresh session: on other documents or weights, to another step count. */
async function resume(ck: Checkpoint, o: { docs?: Document[]; weights?: Uint8Array; steps?: number } = {}) {
  const events: EngineEvent[] = [];
  const s = await session(events, o.weights);
  await s.train(o.docs ?? docs, { ...ck.run.settings, steps: o.steps ?? ck.run.settings.steps }, undefined, { resume: ck });
  return events;
}

/** The default model's weights with the last bit of one value of layer 0 flipped: the same shapes, other weights. */
function otherWeights(): Uint8Array {
  const w = new Uint8Array(readFileSync(join(MODEL, 'model.safetensors')));
  const h = readSafetensorsHeader(w);
  const e = h.entries.find((x) => x.name === 'model.layers.0.self_attn.q_proj.weight')!;
  w[h.dataStart + e.start] ^= 1;
  return w;
}

const stepsOf = (events: EngineEvent[]) => events.filter((e): e is StepEvent => e.type === 'step').map((e) => e.step);

describe('what a checkpoint must match to resume', () => {
  it('the weights hash is of the tensors: the header\'s metadata does not count, one value does', async () => {
    const t = new Map([['a', { shape: [2], data: Float32Array.of(1, 2) }], ['b', { shape: [1], data: Float32Array.of(3) }]]);
    const h = await weightsHash(writeSafetensors(t));
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(await weightsHash(writeSafetensors(t, { note: 'another writer' }))).toBe(h);
    t.get('b')!.data[0] = 3.0001;
    expect(await weightsHash(writeSafetensors(t))).not.toBe(h);
  });

  it('refuses other weights of the same shape; an older checkpoint without the weights hash still resumes on the other checks', async () => {
    const bytes = await checkpointAtTwo();
    const ck = decodeCheckpoint(bytes);
    expect(ck.run.model.weights).toBe(await weightsHash(readModelDir(MODEL).weights));
    await expect(resume(ck, { weights: otherWeights() })).rejects.toThrow(
      /^The checkpoint was made with other weights of the same shape \(SHA-256 [0-9a-f]{12}…, the loaded ones are [0-9a-f]{12}…\): load the model the run was trained from to continue it\.$/,
    );
    const older = decodeCheckpoint(bytes);
    delete older.run.model.weights;
    expect(stepsOf(await resume(decodeCheckpoint(encodeCheckpoint(older)), { weights: otherWeights() }))).toEqual([3]);
  });

  it("refuses a checkpoint whose AdamW moments are missing or whose tensors hold NaN", async () => {
    const ck = decodeCheckpoint(await checkpointAtTwo());
    const name = ck.state.params[1].peft;
    const withParams = (f: (p: Checkpoint['state']['params'][number], i: number) => Checkpoint['state']['params'][number]): Checkpoint => ({ ...ck, state: { ...ck.state, params: ck.state.params.map(f) } });
    const sentence = (c: Checkpoint) => {
      try {
        decodeCheckpoint(encodeCheckpoint(c), 'ck.safetensors');
      } catch (e) {
        expect(e).toBeInstanceOf(UserError);
        return (e as Error).message;
      }
      throw new Error('expected a UserError');
    };
    expect(sentence(withParams((p, i) => (i === 1 ? { ...p, m: null, v: null } : p)))).toBe(
      `ck.safetensors: AdamW's moments of ${name} are missing after 2 optimizer steps; the checkpoint is damaged and the run cannot continue exactly from it.`,
    );
    expect(sentence(withParams((p, i) => (i === 1 ? { ...p, v: null } : p)))).toMatch(/AdamW's moments of .* are missing/);
    expect(sentence(withParams((p, i) => (i === 1 ? { ...p, value: p.value.map((x, j) => (j === 3 ? NaN : x)) } : p)))).toBe(
      `ck.safetensors: the values of ${name} hold NaN or infinite numbers; the checkpoint is damaged and the run cannot continue from it.`,
    );
    expect(sentence(withParams((p, i) => (i === 0 ? { ...p, m: p.m!.map((x, j) => (j === 0 ? Infinity : x)) } : p)))).toMatch(/the AdamW first moments of .* hold NaN or infinite numbers/);
    // Before AdamW's first step there are no moments yet: such a checkpoint is whole.
    const fresh = withParams((p) => ({ ...p, m: null, v: null }));
    expect(decodeCheckpoint(encodeCheckpoint({ run: { ...fresh.run, optimizer: { ...fresh.run.optimizer, steps: 0 } }, state: { ...fresh.state, steps: 0 } })).state.params[0].m).toBeNull();
  });

  it('refuses to resume to a step count the run has already reached, naming the steps done', async () => {
    const ck = decodeCheckpoint(await checkpointAtTwo());
    await expect(resume(ck, { steps: 2 })).rejects.toThrow(/^The run has already done 2 steps, so a total of 2 leaves nothing to train: ask for more than 2 steps \(--steps\) to continue it\.$/);
  });

  it('resumes the same data under another file name; a checkpoint of the older format, which hashed the names too, says so', async () => {
    const bytes = await checkpointAtTwo();
    const renamed = docs.map((d, i) => ({ name: `copy.jsonl:${i + 1}`, text: d.text }));
    expect(stepsOf(await resume(decodeCheckpoint(bytes), { docs: renamed }))).toEqual([3]);
    // The older record: SHA-256 of each document's name and text, without hashOf.
    const legacy = createHash('sha256');
    for (const d of docs) legacy.update(d.name).update('\0').update(d.text).update('\0');
    const older = decodeCheckpoint(bytes);
    older.run.dataset = { hash: legacy.digest('hex'), documents: older.run.dataset.documents, windows: older.run.dataset.windows };
    const back = decodeCheckpoint(encodeCheckpoint(older));
    await expect(resume(back, { docs: renamed })).rejects.toThrow(/made on other data .*older format that identifies the data by its file names as well as its text: give the data under the file name the run was made with\)\.$/);
    expect(stepsOf(await resume(back))).toEqual([3]);
  });

  it('a checkpoint write that fails (a full disk) removes its partial file and says so; the run stops with its adapter whole and the earlier checkpoint usable', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lemo-full-')), 'ck');
    let writes = 0;
    const fullDisk = (path: string, bytes: Uint8Array) => {
      if (++writes === 1) return writeFileSync(path, bytes);
      writeFileSync(path, bytes.subarray(0, 1000)); // the disk fills mid-write
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    const s = await session();
    const save = checkpointDir(dir, { data: DATA, model: MODEL }, 0, fullDisk);
    const err = await s.train(docs, { ...settings, sparsity: 'dense', steps: 5, checkpointEvery: 1 }, undefined, { onCheckpoint: save }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStopped);
    expect((err as RunStopped).message).toBe(`The checkpoint after step 2 could not be written to ${dir} (the disk is full): its partial file was removed and the checkpoint of step 1 stays there for --resume.`);
    expect((err as RunStopped).lastGoodStep).toBe(2);
    expect(existsSync(join(dir, 'checkpoint.safetensors.tmp'))).toBe(false);
    expect(readCheckpointDir(dir).checkpoint.run.step).toBe(1);
    expect([...(await adapter(s)).values()].every((t) => t.data.every(Number.isFinite))).toBe(true);
  });
});

describe('lemo train and its checkpoint folder', () => {
  const lemo = (args: string[]) => spawnSync(process.execPath, ['bin/lemo.js', 'train', '--backend', 'wasm', ...args], { encoding: 'utf8' });
  const dataFile = (dir: string, name = 'data.jsonl') => {
    const p = join(dir, name);
    writeFileSync(p, docs.map((d) => JSON.stringify({ text: d.text })).join('\n'));
    return p;
  };

  it('--resume refuses options that contradict the run and a step count already reached; the same data under another name, with the run\'s own values, resumes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lemo-flags-'));
    const ck = join(dir, 'ck');
    await (await session()).train(docs, { ...settings, sparsity: 'dense', steps: 3 }, undefined, { onCheckpoint: checkpointDir(ck, { data: dataFile(dir), model: MODEL }) });
    const resumeWith = (args: string[]) => lemo(['--resume', ck, '--out', join(dir, 'out'), ...args]);
    const cases: [string[], string][] = [
      [['--lr', '1e-3'], `--lr 1e-3 contradicts the run in ${ck}, which trains with lr 0.002: leave it out to continue the run as it was, or start a new run without --resume.`],
      [['--rope-scale', '2'], `--rope-scale 2 contradicts the run in ${ck}, which trains with rope-scale 1: leave it out`],
      [['--lora-r', '4', '--ctx', '128'], `--ctx 128, --lora-r 4 contradict the run in ${ck}, which trains with ctx 64, lora-r 8: leave these options out`],
      [['--steps', '2'], 'The run has already done 2 steps, so a total of 2 leaves nothing to train'],
    ];
    for (const [args, message] of cases) {
      const r = resumeWith(args);
      expect(r.stderr, args.join(' ')).toContain(`lemo: ${message}`);
      expect(r.stderr).not.toMatch(/internal error|    at /);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
    }
    expect(existsSync(join(dir, 'out'))).toBe(false);
    const r = resumeWith(['--data', dataFile(dir, 'renamed.jsonl'), '--ctx', '64', '--lr', '2e-3', '--lora-r', '8']);
    expect(r.stderr).toMatch(/resuming after step 2/);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).steps).toBe(3);
  });

  it('a second run on the folder is refused while the first runs; the lock a killed run leaves is taken over, and released at the end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lemo-lock-'));
    const ck = join(dir, 'ck');
    const args = (out: string, steps: string) => ['--model', MODEL, '--sparsity', 'dense', '--data', dataFile(dir), '--ctx', '64', '--steps', steps, '--checkpoint-dir', ck, '--out', join(dir, out)];
    const first = spawn(process.execPath, ['bin/lemo.js', 'train', '--backend', 'wasm', ...args('first', '300')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      first.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/step 1\//.test(stderr)) resolve();
      });
      first.on('exit', () => reject(new Error(`the first lemo train ended before its first step:\n${stderr}`)));
    });
    const second = lemo(args('second', '1'));
    expect(second.stderr).toContain(`lemo: ${ck} is in use by another lemo train (pid ${first.pid}, in ${join(ck, LOCK_FILE)}); wait for it to end, or give another --checkpoint-dir.`);
    expect(second.status).toBe(2);
    expect(existsSync(join(dir, 'second'))).toBe(false);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    expect(readFileSync(join(ck, LOCK_FILE), 'utf8').trim()).toBe(String(first.pid));
    const third = lemo(args('third', '1'));
    expect(third.stderr).not.toMatch(/in use/);
    expect(third.status).toBe(0);
    expect(existsSync(join(dir, 'third', 'adapter_model.safetensors'))).toBe(true);
    expect(existsSync(join(ck, LOCK_FILE))).toBe(false);
  });
});

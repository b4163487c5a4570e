// Offload of saved activations: the same losses and LoRA gradients with and without it, the
// device-side activations lower with it, and disk offload's files gone afterwards, also after
// a failure.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_TARGETS, loraConfig } from '../src/engine/model/lora';
import { loadModel, type Model } from '../src/engine/model/model';
import { DevicePredictors, PredictorSet } from '../src/engine/sparsity/predictor';
import { parsePolicy } from '../src/engine/sparsity/policy';
import { selectorFor, type Sparsity } from '../src/engine/sparsity/selectors';
import { DeviceModel } from '../src/engine/train/device-model';
import type { OffloadOptions, SpillStore } from '../src/engine/train/offload';
import { RunStopped, UserError } from '../src/engine/errors';
import type { EngineEvent } from '../src/engine/events';
import type { TokenSelector } from '../src/engine/train/selection';
import { Trainer } from '../src/engine/train/trainer';
import { checkStepFits } from '../src/engine/run/limits';
import { savedActivationBytes } from '../src/engine/memory/forecast';
import type { Runtime } from '../src/engine/runtime/runtime';
import { diskStore } from '../src/cli/spill-dir';
import { readJson, readModelDir } from '../src/cli/files';
import { DEFAULT_SETTINGS, EngineSession } from '../src/engine/session';
import { decodeDataset, parseDataset } from '../src/engine/train/data';
import { nodeRuntime, rng } from './helpers/runtime';

const MODEL = 'public/models/lemo-tiny';
const T = 128;
const LORA = loraConfig(8, 16, DEFAULT_TARGETS.llama);

function tinyModel(): Model {
  return loadModel({ config: JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')), weights: new Uint8Array(readFileSync(join(MODEL, 'model.safetensors'))) });
}

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'offload-test-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface Figures {
  losses: number[];
  grads: Map<string, Float32Array>;
  activationsPeak: number;
  offloadedPeak: number;
}

/** Two optimizer steps on fixed windows, then the loss and gradients of a third pass. */
async function run(rt: Runtime, dm: DeviceModel, selector: () => TokenSelector, offload: OffloadOptions, batches: number[][][]): Promise<Figures> {
  const t = await Trainer.create(dm, dm.model, LORA, { seed: 3, offload });
  rt.memory.resetPeaks();
  const losses: number[] = [];
  for (const b of batches.slice(0, 2)) losses.push((await t.step(b, selector())).loss);
  const r = await t.lossAndGrads(batches[2], selector());
  losses.push(r.loss);
  const grads = new Map<string, Float32Array>();
  for (const [k, g] of r.grads) {
    grads.set(k, Float32Array.from((await rt.read(g)) as Float32Array));
    rt.dispose(g);
  }
  const figures = { losses, grads, activationsPeak: rt.memory.peak.activations, offloadedPeak: rt.memory.peak.offloaded };
  t.dispose();
  return figures;
}

describe('offload of saved activations', () => {
  for (const mode of ['dense', 'lemo'] as const) {
    it(`gives the same losses and LoRA gradients with host and disk offload, with fewer activations on the device: ${mode}`, async () => {
      const rt = await nodeRuntime('node');
      const model = tinyModel();
      const dm = await DeviceModel.upload(rt, model);
      const cfg = model.config;
      const r = rng(11);
      const batches = [0, 1, 2].map(() => [Array.from({ length: T }, () => Math.floor(r() * cfg.vocabSize))]);
      let sparsity: Sparsity = { mode: 'dense' };
      if (mode === 'lemo') {
        const set = PredictorSet.fromBytes(new Uint8Array(readFileSync(join(MODEL, 'predictors.safetensors'))));
        const policy = parsePolicy([null, 0.5, 0.5, 0.5, 0.5, null], cfg.layers);
        sparsity = { mode: 'lemo', predictors: await DevicePredictors.upload(rt, set, cfg), policy };
      }
      const selector = () => selectorFor(sparsity, cfg.layers);
      const none = await run(rt, dm, selector, { mode: 'none' }, batches);
      const host = await run(rt, dm, selector, { mode: 'host' }, batches);
      const dir = tempDir();
      const disk = await run(rt, dm, selector, { mode: 'disk', store: diskStore(dir) }, batches);
      expect(none.losses.every(Number.isFinite)).toBe(true);
      expect(none.offloadedPeak).toBe(0);
      for (const off of [host, disk]) {
        expect(off.losses).toEqual(none.losses);
        expect([...off.grads.keys()].sort()).toEqual([...none.grads.keys()].sort());
        for (const [k, g] of none.grads) expect(off.grads.get(k), k).toEqual(g);
        // Two layers' worth at most on the device (the one in its backward, the next prefetched),
        // against every layer's without offload.
        expect(off.activationsPeak).toBeLessThan(0.75 * none.activationsPeak);
      }
      expect(host.offloadedPeak).toBeGreaterThan(0);
      expect(readdirSync(dir)).toEqual([]);
      dm.dispose();
    });
  }

  it('leaves no file of disk offload behind when a pass fails after layers were written', async () => {
    const rt = await nodeRuntime('node');
    const dm = await DeviceModel.upload(rt, tinyModel());
    const dir = tempDir();
    const t = await Trainer.create(dm, dm.model, LORA, { offload: { mode: 'disk', store: diskStore(dir) } });
    const failing: TokenSelector = {
      mlpKeep: null,
      select: async (layer) => {
        if (layer === 3) {
          // Disk writes go on in the background: fail once the first layers' files are there.
          for (let i = 0; i < 500 && readdirSync(dir).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
          expect(readdirSync(dir).length).toBeGreaterThan(0);
          throw new Error('selector failed');
        }
        return null;
      },
    };
    const before = { ...rt.memory.live };
    await expect(t.step([Array.from({ length: 64 }, (_, i) => i + 1)], failing)).rejects.toThrow('selector failed');
    expect(readdirSync(dir)).toEqual([]);
    expect(rt.memory.live.offloaded).toBe(before.offloaded);
    // A failed read in the backward removes the rest too.
    const store = diskStore(dir);
    const broken = await Trainer.create(dm, dm.model, LORA, { offload: { mode: 'disk', store: { ...store, read: async () => Promise.reject(new Error('disk gone')) } } });
    await expect(broken.step([Array.from({ length: 64 }, (_, i) => i + 1)])).rejects.toThrow('disk gone');
    expect(readdirSync(dir)).toEqual([]);
    t.dispose();
    broken.dispose();
    dm.dispose();
  });
});

describe('offload from the shells', () => {
  const DATA = 'test/fixtures/books-slice/slice.jsonl';
  const train = (tmp: string, out: string, extra: string[]) => spawnSync(process.execPath, ['bin/lemo.js', 'train', '--model', MODEL, '--data', DATA, '--ctx', '64', '--steps', '2', '--sparsity', 'dense', '--out', out, ...extra], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp } });

  // Others (tsx, onnxruntime) write to TMPDIR too: only offload's folders count.
  const offloadDirs = (tmp: string) => readdirSync(tmp).filter((n) => n.startsWith('lemo-offload-'));

  it('lemo train --offload disk trains as without, and removes its temporary folder, also when the run is refused', () => {
    const tmp = tempDir();
    const none = train(tmp, join(tempDir(), 'a'), []);
    expect(none.status, none.stderr).toBe(0);
    const disk = train(tmp, join(tempDir(), 'b'), ['--offload', 'disk']);
    expect(disk.status, disk.stderr).toBe(0);
    expect(JSON.parse(disk.stdout).loss).toBe(JSON.parse(none.stdout).loss);
    expect(offloadDirs(tmp)).toEqual([]);
    const refused = train(tmp, join(tempDir(), 'c'), ['--offload', 'disk', '--sparsity', 'oracle', '--block', '128']);
    expect(refused.status).toBe(2);
    expect(offloadDirs(tmp)).toEqual([]);
    const bad = train(tmp, join(tempDir(), 'd'), ['--offload', 'gpu']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--offload/);
  });

  it('refuses disk offload where no folder is given for it (the page), and trains with host offload there', async () => {
    const rt = await nodeRuntime('node');
    const s = new EngineSession(rt, () => {});
    s.loadModel({ ...readModelDir(MODEL), tokenizer: readJson(join(MODEL, 'tokenizer.json'), 'tokenizer.json'), tokenizerConfig: readJson(join(MODEL, 'tokenizer_config.json'), 'tokenizer_config.json') });
    const docs = parseDataset('slice.jsonl', decodeDataset('slice.jsonl', readFileSync(DATA)));
    const settings = { ...DEFAULT_SETTINGS, sparsity: 'dense' as const, ctx: 64, steps: 1, checkpointEvery: 0 };
    await expect(s.train(docs, { ...settings, offload: 'disk' })).rejects.toThrow('Offload to disk needs a place for its files, and none was given to this run (lemo train --offload disk gives a temporary folder); choose host or none.');
    const r = await s.train(docs, { ...settings, offload: 'host' });
    expect(r.steps).toBe(1);
    expect(Number.isFinite(r.lastLoss)).toBe(true);
  });
});

describe('a store that fills up mid-run', () => {
  const DATA = 'test/fixtures/books-slice/slice.jsonl';
  const session = async (emit: (e: EngineEvent) => void = () => {}) => {
    const s = new EngineSession(await nodeRuntime('node'), emit);
    s.loadModel({ ...readModelDir(MODEL), tokenizer: readJson(join(MODEL, 'tokenizer.json'), 'tokenizer.json'), tokenizerConfig: readJson(join(MODEL, 'tokenizer_config.json'), 'tokenizer_config.json') });
    return s;
  };
  const docs = parseDataset('slice.jsonl', decodeDataset('slice.jsonl', readFileSync(DATA)));
  const settings = { ...DEFAULT_SETTINGS, sparsity: 'dense' as const, ctx: 64, steps: 3, checkpointEvery: 0, offload: 'disk' as const };
  const FULL = "The browser's storage has no room left for the saved activations offloaded to disk: free browser storage, or choose host memory or none for Offload activations.";

  it("stops the run at that step with the store's sentence, keeping the adapter of the step before, and nothing in the store", async () => {
    // The same run's first step without offload: the adapter the stopped run must keep.
    const plain = await session();
    await plain.train(docs, { ...settings, steps: 1, offload: 'none' });
    const expected = await plain.exportAdapter('lemo-tiny');
    // A store on a real folder whose room runs out once the first step is done (as a browser's quota does).
    const dir = tempDir();
    let full = false;
    const files = diskStore(dir);
    const store: SpillStore = { ...files, write: async (key, bytes) => (full ? Promise.reject(new UserError(FULL)) : files.write(key, bytes)) };
    const s = await session((e) => (full ||= e.type === 'step'));
    const err = await s.train(docs, settings, undefined, { spill: store }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStopped);
    expect((err as RunStopped).message).toBe(`Training stopped at step 2 because the browser's storage has no room left for the saved activations offloaded to disk: free browser storage, or choose host memory or none for Offload activations.`);
    expect((err as RunStopped).lastGoodStep).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
    expect(s.rt.memory.stored).toBe(0);
    expect(s.rt.memory.live.offloaded).toBe(0);
    expect(s.rt.memory.live.gradients).toBe(0);
    // Exportable as after Stop: the adapter of step 1, the same as the run without offload.
    const kept = await s.exportAdapter('lemo-tiny');
    expect(kept.config).toBe(expected.config);
    expect(Buffer.from(kept.weights).equals(Buffer.from(expected.weights))).toBe(true);
  });

  it('names a full disk under lemo train with what to change', async () => {
    // /dev/full: every write fails as on a full disk (ENOSPC).
    await expect(diskStore('/dev').write('full', new Uint8Array(16))).rejects.toThrow('The disk of /dev is full: free space there (or set TMPDIR to a disk with room), or choose --offload host or none.');
  });
});

describe('the memory forecast with offload', () => {
  it('counts two layers of saved activations when they wait on disk, every layer otherwise', () => {
    const cfg = tinyModel().config;
    const weightBytes = 25e6;
    const all = savedActivationBytes(cfg, 4096);
    const budget = { bytes: weightBytes + all / 2, source: '--memory-budget' };
    expect(() => checkStepFits({ cfg, weightBytes, budget }, 1, 4096)).toThrow(/A step of 1 × 4096 tokens would keep about/);
    expect(() => checkStepFits({ cfg, weightBytes, budget }, 1, 4096, 'host')).toThrow(/A step of 1 × 4096 tokens would keep about/);
    expect(() => checkStepFits({ cfg, weightBytes, budget }, 1, 4096, 'disk')).not.toThrow();
  });
});

// The memory forecast of a run, before it starts: its peak by kind agrees with what the accountant
// measures on short dense and lemo runs, a run that fits in neither mode is refused with a
// sentence (what was trained stays), and a RoPE scale of the run's settings reaches a longer context.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, EngineSession, type TrainSettings } from '../src/engine/session';
import type { EngineEvent, MemoryEvent } from '../src/engine/events';
import { decodeDataset, parseDataset } from '../src/engine/train/data';
import { forecastRefusal } from '../src/engine/run/limits';
import { readJson, readModelDir } from '../src/cli/files';
import { diskStore } from '../src/cli/spill-dir';
import { nodeRuntime } from './helpers/runtime';
import { loadOrtForNode } from '../src/engine/runtime/ort-node';
import { Runtime } from '../src/engine/runtime/runtime';
import { halfAndWidened } from './helpers/half';

const MODEL = 'public/models/lemo-tiny';
const DATA = 'public/data/books-short/train.jsonl.gz';
const docs = parseDataset('train.jsonl.gz', decodeDataset('train.jsonl.gz', readFileSync(DATA))).slice(0, 2);
const folder = () => ({ ...readModelDir(MODEL), tokenizer: readJson(join(MODEL, 'tokenizer.json'), 'tokenizer.json'), tokenizerConfig: readJson(join(MODEL, 'tokenizer_config.json'), 'tokenizer_config.json') });
const run = (s: Partial<TrainSettings>): TrainSettings => ({ ...DEFAULT_SETTINGS, steps: 2, checkpointEvery: 0, seed: 1, ...s });
const within = (forecast: number, measured: number) => Math.abs(forecast - measured) / measured;

let session: EngineSession;
const events: MemoryEvent[] = [];
beforeAll(async () => {
  session = new EngineSession(await nodeRuntime(), (e) => e.type === 'memory' && events.push(e));
  session.loadModel(folder());
  session.loadPredictors(new Uint8Array(readFileSync(join(MODEL, 'predictors.safetensors'))));
});

describe('the memory forecast', () => {
  for (const ctx of [256, 512]) {
    it(`agrees within 10% with the accountant's peak of dense and lemo steps at ${ctx} tokens`, async () => {
      for (const mode of ['dense', 'lemo'] as const) {
        const settings = run({ ctx, sparsity: mode });
        const f = session.forecast(settings).forecast;
        const predicted = mode === 'dense' ? f.dense : f.sparse;
        const [row] = await session.bench(docs, { ctxs: [ctx], modes: [{ name: mode, sparsity: await session.sparsityFor(settings) }], steps: 2, seed: 1, lr: settings.lr, lora: settings }, () => {});
        expect(within(predicted.peak, row.peakBytes), `${mode} peak`).toBeLessThan(0.1);
        expect(within(predicted.split.activations, row.peakSplit.activations), `${mode} activations`).toBeLessThan(0.1);
        expect(predicted.split.optimizer).toBe(row.peakSplit.optimizer);
      }
      const f = session.forecast(run({ ctx, sparsity: 'lemo' })).forecast;
      expect(f.sparse.mode).toBe('lemo');
      // The paper's policy keeps 40% of the blocks in layers 3 and 4 (rounded up to whole blocks).
      expect(f.sparse.keptRows).toEqual([ctx, ctx, ctx, 32 * Math.ceil(0.4 * ctx / 32), 32 * Math.ceil(0.4 * ctx / 32), ctx]);
      expect(f.sparse.split.activations).toBeLessThan(f.dense.split.activations);
    });
  }

  it("agrees within 10% with a lemo run's own memory samples, its MLP channel share among the settings", async () => {
    // The same session: the runtime's accountant counts the tensors of every session on it.
    const s = session;
    events.length = 0;
    const settings = run({ ctx: 256, sparsity: 'lemo', policy: [null, 0.25, 0.25, 0.25, 0.25, null], mlpKeep: 0.5 });
    const f = s.forecast(settings).forecast;
    await s.train(docs, settings);
    expect(within(f.sparse.peak, events.at(-1)!.peakTotal)).toBeLessThan(0.1);
    expect(f.sparse.keptRows).toEqual([256, 64, 64, 64, 64, 256]);
    // The backward saves half of the MLP's channels.
    expect(f.sparse.split.activations).toBeLessThan(s.forecast({ ...settings, mlpKeep: null }).forecast.sparse.split.activations);
  });
});

describe('the memory forecast of a bfloat16 model', () => {
  it("counts its weights at 2 bytes a value plus the one layer's (or head chunk's) float32 copy, within 10% of the accountant's peak", async () => {
    // lemo-tiny ships in bfloat16; the same values in float32 are the comparison.
    const { half, widened } = halfAndWidened(new Uint8Array(readFileSync(join(MODEL, 'model.safetensors'))), 'BF16');
    // A runtime of its own: the shared one still holds the models of the tests before.
    const { ort, provider } = await loadOrtForNode(1, 'wasm');
    const bf16 = new EngineSession(new Runtime(ort, { provider, threads: 1 }), () => {});
    bf16.loadModel({ ...folder(), weights: half });
    for (const mode of ['dense', 'oracle'] as const) {
      const settings = run({ ctx: 256, sparsity: mode });
      const f = bf16.forecast(settings).forecast;
      const predicted = mode === 'dense' ? f.dense : f.sparse;
      const [row] = await bf16.bench(docs, { ctxs: [256], modes: [{ name: mode, sparsity: await bf16.sparsityFor(settings) }], steps: 2, seed: 1, lr: settings.lr, lora: settings }, () => {});
      expect(within(predicted.peak, row.peakBytes), `${mode} peak`).toBeLessThan(0.1);
      expect(within(predicted.split.weights, row.peakSplit.weights), `${mode} weights`).toBeLessThan(0.1);
    }
    // Loaded after the runs above, whose peaks would count its weights (one runtime).
    const f32 = new EngineSession(await nodeRuntime('node'), () => {});
    f32.loadModel({ ...folder(), weights: widened });
    const settings = run({ ctx: 256, sparsity: 'dense' });
    // Stored at about half; at the peak, plus the float32 copy of one vocabulary chunk of the head
    // (here the whole table: a small vocabulary is one chunk).
    const { vocab_size: V, hidden_size: C } = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8'));
    const [w16, w32] = [bf16, f32].map((s) => s.forecast(settings).forecast.dense.split.weights);
    expect(w16 - 4 * V * C).toBeLessThan(0.55 * w32);
    expect(w16 - 4 * V * C).toBeGreaterThan(0.45 * w32);
  });
});

describe("the forecast of a model's policy.json", () => {
  it('counts a threshold layer at the share of blocks the file measured: the predictors\' for lemo, the oracle\'s for oracle; else every block', async () => {
    const layers = (kept: number[]) => kept.map((k, i) => ({ layer: 3 + i, factor: 1, predicted: 1, recall: 0.95, kept: k, oracleKept: k, loss: 1 }));
    const policy = {
      block: 32, ctx: 256, policy: [null, null, null, { threshold: 1 }, { threshold: 1 }, null],
      calibrated: { data: 'd', windows: 1, recall: 0.95, predictors: 'p', layers: layers([0.25, 0.5]) },
      tuned: { data: 'd', windows: 1, bound: 0.01, totalBound: null, step: 0.05, denseLoss: 1, loss: 1, layers: layers([0.125, 0.75]) },
    };
    const s = new EngineSession(await nodeRuntime(), () => {});
    s.loadModel({ ...folder(), policy });
    s.loadPredictors(new Uint8Array(readFileSync(join(MODEL, 'predictors.safetensors'))));
    expect(s.forecast(run({ ctx: 256, sparsity: 'lemo' })).forecast.sparse.keptRows).toEqual([256, 256, 256, 64, 128, 256]);
    expect(s.forecast(run({ ctx: 256, sparsity: 'oracle' })).forecast.sparse.keptRows).toEqual([256, 256, 256, 32, 192, 256]);
    // The same thresholds given as the run's own policy: nothing measured them, so every block counts.
    expect(s.forecast(run({ ctx: 256, sparsity: 'oracle', policy: policy.policy })).forecast.sparse.keptRows).toEqual([256, 256, 256, 256, 256, 256]);
  });
});

describe('a run beyond the memory', () => {
  it('says when dense does not fit and lemo does, and refuses a run that fits in neither, keeping what was trained', async () => {
    const policy = [null, 0.1, 0.1, 0.1, 0.1, 0.1];
    const f = session.forecast(run({ ctx: 1024, sparsity: 'lemo', policy })).forecast;
    const budget = { bytes: (f.dense.peak + f.sparse.peak) / 2, source: 'the budget of this test', maxTensor: null, heap: null };
    const refusal = forecastRefusal({ ...f, budget }, 'dense');
    expect(refusal).toMatch(/^A dense run of 1 × 1024 tokens would peak at about 0\.\d\d GiB \(0\.\d\d GiB of them activations\), but 0\.\d\d GiB is available \(the budget of this test\); with lemo's token elimination it would take about 0\.\d\d GiB: choose lemo, or lower the batch \(--batch\) or the context \(--ctx\)\.$/);
    expect(forecastRefusal({ ...f, budget }, 'lemo')).toBeNull();
    // Under WASM each run also works within the heap: a run whose largest run does not fit it is refused, naming that.
    const heap = { bytes: f.sparse.runPeak / 2, source: 'the heap of this test' };
    const roomy = { ...budget, bytes: Infinity, heap };
    expect(forecastRefusal({ ...f, budget: roomy }, 'lemo')).toMatch(/^A lemo run of 1 × 1024 tokens would hold about 0\.\d\d GiB in one of its runs, but a run may hold at most 0\.\d\d GiB \(the heap of this test\): lower the batch \(--batch\) or the context \(--ctx\)\.$/);
    expect(forecastRefusal({ ...f, budget: { ...roomy, heap: { ...heap, bytes: f.dense.runPeak } } }, 'dense')).toBeNull();

    const s = new EngineSession(await nodeRuntime(), () => {});
    s.loadModel(folder(), { memoryBudget: { bytes: 2 ** 30, source: 'a 1 GiB budget' } });
    await s.train(docs, run({ ctx: 64, steps: 1, sparsity: 'dense' }));
    const before = await s.exportAdapter('lemo-tiny');
    const huge = run({ ctx: 1024, batch: 64, sparsity: 'oracle' });
    expect(s.forecast(huge).forecast.dense.peak).toBeGreaterThan(2 ** 30);
    await expect(s.train(docs, huge)).rejects.toThrow(/^An oracle run of 64 × 1024 tokens would peak at about \d+\.\d GiB .* but 1\.0 GiB is available \(a 1 GiB budget\): lower the batch \(--batch\) or the context \(--ctx\)\.$/);
    expect((await s.exportAdapter('lemo-tiny')).weights).toEqual(before.weights);
  });

  it('a lemo run that fits where dense does not trains, without the dense baseline step, and says why', async () => {
    const policy = [null, 0.1, 0.1, 0.1, 0.1, 0.1];
    const f = session.forecast(run({ ctx: 1024, sparsity: 'lemo', policy })).forecast;
    const seen: EngineEvent[] = [];
    const s = new EngineSession(await nodeRuntime(), (e) => seen.push(e));
    s.loadModel(folder(), { memoryBudget: { bytes: (f.dense.peak + f.sparse.peak) / 2, source: 'a budget between the two' } });
    s.loadPredictors(new Uint8Array(readFileSync(join(MODEL, 'predictors.safetensors'))));
    await expect(s.train(docs, run({ ctx: 1024, steps: 1, sparsity: 'dense', policy }))).rejects.toThrow(/^A dense run of 1 × 1024 tokens .*; with lemo's token elimination it would take about/);
    const r = await s.train(docs, run({ ctx: 1024, steps: 1, sparsity: 'lemo', policy }));
    expect(Number.isFinite(r.lastLoss)).toBe(true);
    expect(seen.filter((e) => e.type === 'baseline')).toEqual([]);
    expect(seen.filter((e) => e.type === 'log').map((e) => (e as { message: string }).message)).toContainEqual(
      expect.stringMatching(/^The dense baseline is not measured: its dense step of 1 × 1024 tokens would peak at about .*, but .* is available \(a budget between the two\); with lemo's token elimination it would take about 0\.\d\d GiB\.$/),
    );
  });

  it("under WebGPU, refuses a run holding a tensor larger than the GPU's largest buffer", async () => {
    const gpu = { bytes: 32 * 2 ** 20, source: "this GPU's maxStorageBufferBindingSize" };
    const s = new EngineSession(await nodeRuntime(), () => {});
    s.loadModel(folder(), { memoryBudget: { bytes: Infinity, source: '', deviceSeparate: true, maxTensor: gpu } });
    const small = s.forecast(run({ ctx: 256, sparsity: 'dense' })).forecast;
    expect(small.dense.largestTensor).toBeLessThan(gpu.bytes);
    expect(forecastRefusal(small, 'dense')).toBeNull();
    const big = run({ ctx: 1024, batch: 16, sparsity: 'dense' });
    expect(s.forecast(big).forecast.dense.largestTensor).toBeGreaterThan(gpu.bytes);
    await expect(s.train(docs, big)).rejects.toThrow(/^A dense run of 16 × 1024 tokens would hold a tensor of 0\.\d\d GiB, but this GPU's maxStorageBufferBindingSize is 0\.03 GiB: lower the batch \(--batch\) or the context \(--ctx\)\.$/);
  });
});

describe('the memory forecast with offload', () => {
  const dirs: string[] = [];
  const store = () => {
    const dir = mkdtempSync(join(tmpdir(), 'forecast-offload-'));
    dirs.push(dir);
    return diskStore(dir);
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("counts disk offload within 10% of the accountant: two layers' saved activations in memory, the others in the store", async () => {
    // A runtime of its own: the shared one still holds the models of the tests before.
    const { ort, provider } = await loadOrtForNode(1, 'wasm');
    const seen: MemoryEvent[] = [];
    const s = new EngineSession(new Runtime(ort, { provider, threads: 1 }), (e) => e.type === 'memory' && seen.push(e));
    s.loadModel(folder());
    const settings = run({ ctx: 256, sparsity: 'dense', offload: 'disk' });
    const f = s.forecast(settings).forecast;
    const none = s.forecast({ ...settings, offload: 'none' }).forecast;
    expect(f.offload).toBe('disk');
    expect(f.dense.peak).toBeLessThan(none.dense.peak - 0.5 * none.dense.split.activations);
    expect(f.dense.stored).toBeGreaterThan(0.9 * none.dense.split.activations);
    await s.train(docs, settings, undefined, { spill: store() });
    expect(within(f.dense.peak, seen.at(-1)!.peakTotal)).toBeLessThan(0.1);
    const stored = Math.max(...seen.flatMap((e) => e.samples.map((m) => m.stored ?? 0)));
    expect(within(f.dense.stored, stored)).toBeLessThan(0.1);
    // Host offload keeps the same bytes in memory, as their own kind.
    const host = s.forecast({ ...settings, offload: 'host' }).forecast;
    expect(host.dense.peak).toBe(none.dense.peak);
    expect(host.dense.split.offloaded).toBeGreaterThan(0.9 * none.dense.split.activations);
    expect(host.dense.stored).toBe(0);
  });

  it('refuses a context that fits only with disk offload, naming it, and trains it with disk offload', async () => {
    const settings = run({ ctx: 512, steps: 1, sparsity: 'dense' });
    const [none, disk] = [session.forecast(settings).forecast, session.forecast({ ...settings, offload: 'disk' }).forecast];
    const s = new EngineSession(await nodeRuntime(), () => {});
    s.loadModel(folder(), { memoryBudget: { bytes: (none.dense.peak + disk.dense.peak) / 2, source: 'a budget between the two' } });
    const refused = /^A dense run of 1 × 512 tokens would peak at about 0\.\d\d GiB \(0\.\d\d GiB of them activations\), but 0\.\d\d GiB is available \(a budget between the two\); with its saved activations offloaded to disk it would take about 0\.\d\d GiB: choose offload to disk \(--offload disk\), or lower the batch \(--batch\) or the context \(--ctx\)\.$/;
    await expect(s.train(docs, settings)).rejects.toThrow(refused);
    await expect(s.train(docs, { ...settings, offload: 'host' })).rejects.toThrow(refused);
    expect(s.forecast({ ...settings, offload: 'disk' }).forecast.withDisk).toBeNull();
    const r = await s.train(docs, { ...settings, offload: 'disk' }, undefined, { spill: store() });
    expect(r.steps).toBe(1);
    expect(Number.isFinite(r.lastLoss)).toBe(true);
  });
});

describe("a run's RoPE scale", () => {
  it('reaches a context past the positions, is refused when invalid, and a refused run leaves the scale as it was', async () => {
    const s = new EngineSession(await nodeRuntime(), () => {});
    s.loadModel(folder());
    await expect(s.train(docs, run({ ctx: 2048, steps: 1, sparsity: 'dense' }))).rejects.toThrow(/1024 positions × RoPE scale 1 = 1024 tokens/);
    expect(() => s.forecast(run({ ctx: 2048, ropeScale: 0 }))).toThrow(/The RoPE scale \(--rope-scale\) is 0, but a linear RoPE scale must be a positive number up to 1024/);
    await expect(s.train(docs, run({ ctx: 2048, ropeScale: 2, steps: 1, lr: -1 }))).rejects.toThrow(/learning rate/);
    expect(s.config.rope!.linearFactor).toBe(1);
    const r = await s.train(docs, run({ ctx: 2048, ropeScale: 2, steps: 1, sparsity: 'dense' }));
    expect(Number.isFinite(r.lastLoss)).toBe(true);
    expect(s.config.rope!.linearFactor).toBe(2);
    await s.train(docs, run({ ctx: 64, steps: 1, sparsity: 'dense' }));
    expect(s.config.rope!.linearFactor).toBe(1);
  });
});

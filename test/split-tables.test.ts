// A lookup table larger than one device buffer may hold (the runtime's maxBufferBytes, forced
// small here) is stored in chunks of rows aligned with the LM head's vocabulary chunks: loss and
// every LoRA gradient are bit-identical to the table stored whole (with the head cut in the same
// chunks), no tensor the engine holds is over the limit, a tied head holds the table once, and
// the accountant and the forecast count the bytes held.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TARGETS, loraConfig, type LoraConfig } from '../src/engine/model/lora';
import { loadModel, modelHostBytes, type Model } from '../src/engine/model/model';
import { widenHalf, type StTensor } from '../src/engine/model/safetensors';
import { tensorBytes } from '../src/engine/memory/accountant';
import { forecastStep } from '../src/engine/run/forecast';
import { loadOrtForNode, type NodeBackend } from '../src/engine/runtime/ort-node';
import { Runtime } from '../src/engine/runtime/runtime';
import { DeviceModel } from '../src/engine/train/device-model';
import { Trainer, type TrainerOptions } from '../src/engine/train/trainer';
import { halfAndWidened } from './helpers/half';
import { readFixture } from './helpers/fixtures';

const TINY = 'public/models/lemo-tiny';
const MiB = 2 ** 20;
const runtimes = new Map<string, Promise<{ rt: Runtime; largest: { bytes: number } }>>();

/** A runtime of its own per backend and limit, recording the largest tensor the accountant is given. */
function runtime(backend: NodeBackend, maxBufferBytes?: number) {
  const key = `${backend}:${maxBufferBytes}`;
  if (!runtimes.has(key)) {
    runtimes.set(key, loadOrtForNode(1, backend).then(({ ort, provider }) => {
      const rt = new Runtime(ort, { provider, threads: 1, maxBufferBytes });
      const largest = { bytes: 0 };
      const track = rt.memory.track.bind(rt.memory);
      rt.memory.track = (t, kind) => ((largest.bytes = Math.max(largest.bytes, tensorBytes(t))), track(t, kind));
      return { rt, largest };
    }));
  }
  return runtimes.get(key)!;
}

interface Case {
  model: Model;
  lora: LoraConfig;
  adapter?: Map<string, StTensor>;
  ids: number[][];
}

/** One pass's loss and gradients (bits), the chunks, the stored weights, the peak and the largest tensor held. */
async function pass(backend: NodeBackend, c: Case, maxBufferBytes: number | undefined, opts: TrainerOptions) {
  const { rt, largest } = await runtime(backend, maxBufferBytes);
  largest.bytes = 0;
  const dm = await DeviceModel.upload(rt, c.model);
  const stored = rt.memory.live.weights;
  const t = await Trainer.create(dm, c.model, c.lora, { seed: 3, adapter: c.adapter, ...opts });
  rt.memory.resetPeaks();
  const r = await t.lossAndGrads(c.ids);
  const grads = new Map<string, Uint8Array>();
  for (const [k, g] of r.grads) grads.set(k, new Uint8Array(Float32Array.from((await rt.read(g)) as Float32Array).buffer));
  const out = { loss: r.loss, grads, stored, tableChunks: dm.headTableChunks, headChunks: t.headChunks(), peak: rt.memory.peakTotal, split: { ...rt.memory.peakSplit }, largest: largest.bytes, rt };
  r.grads.forEach((g) => rt.dispose(g));
  t.dispose();
  dm.dispose();
  expect(rt.memory.total()).toBe(0);
  return out;
}

function expectSame(a: Awaited<ReturnType<typeof pass>>, b: Awaited<ReturnType<typeof pass>>) {
  expect(Number.isFinite(a.loss)).toBe(true);
  expect(a.loss).toBe(b.loss);
  expect([...a.grads.keys()].sort()).toEqual([...b.grads.keys()].sort());
  for (const [k, g] of b.grads) expect(Buffer.compare(a.grads.get(k)!, g), k).toBe(0);
}

const tinyFiles = () => {
  const { half, widened } = halfAndWidened(new Uint8Array(readFileSync(join(TINY, 'model.safetensors'))), 'BF16');
  const config = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
  return { bf16: loadModel({ config, weights: half }), f32: loadModel({ config, weights: widened }) };
};

describe.each(['wasm', 'node'] as const)('lookup tables over the buffer limit, in chunks of rows, onnxruntime-%s', (backend) => {
  const models = tinyFiles();
  // 64 tokens spread over the whole vocabulary: every chunk is looked up.
  const ids = [Array.from({ length: 64 }, (_, i) => (i * 7919) % 8192)];
  const lora = loraConfig(8, 16, DEFAULT_TARGETS.llama);

  for (const kind of ['bf16', 'f32'] as const) {
    it(`lemo-tiny (tied) in ${kind} at a 2 MiB limit: the loss and LoRA gradients of the table stored whole, no tensor over 2 MiB, the table held once, the memory counted and forecast`, async () => {
      const model = models[kind];
      const { vocabSize: V, hidden: C } = model.config;
      const cap = 2 * MiB;
      const split = await pass(backend, { model, lora, ids }, cap, {});
      // The head's chunks are the stored ones: 4 chunks of 2,048 rows (2 MiB in float32).
      expect(split.tableChunks).toEqual([[0, 2048], [2048, 4096], [4096, 6144], [6144, 8192]]);
      expect(split.headChunks).toEqual(split.tableChunks);
      const whole = await pass(backend, { model, lora, ids }, undefined, { headChunkRows: 2048 });
      expect(whole.tableChunks).toEqual([[0, V]]);
      expect(whole.headChunks).toEqual(split.tableChunks);
      expectSame(split, whole);
      // Stored whole, the table is one tensor over the limit; in chunks, nothing is.
      expect(whole.largest).toBe((kind === 'f32' ? 4 : 2) * V * C);
      expect(split.largest).toBeLessThanOrEqual(cap);
      // The same bytes stored (a tied table counted once), the same peak but for the rows a float32
      // lookup gathers out of the chunks (64 distinct ids) while the embedding runs.
      expect(split.stored).toBe(modelHostBytes(model));
      expect(whole.stored).toBe(split.stored);
      expect(split.peak).toBe(whole.peak);
      expect(split.split).toEqual(whole.split);
      const f = forecastStep(split.rt, { model, lora, batch: 1, ctx: 64, rows: Array<number>(model.config.layers).fill(64), mlpKeep: null, extraWeights: 0 });
      expect(f.split.weights).toBe(split.split.weights);
      // The forecast's AdamW moments are not held by a pass without an update.
      expect(Math.abs(f.peak - f.split.optimizer - split.peak) / split.peak).toBeLessThan(0.1);
    });
  }

  it('an untied llama (embedding and lm_head each in chunks) and GPT-2 (its positions table too): bit-identical', async () => {
    for (const name of ['llama-gqa', 'gpt2']) {
      const f = readFixture(`test/fixtures/golden/${name}`);
      const { vocabSize: V, hidden: C } = f.model.config;
      // A limit of a third of the vocabulary's table: 3 chunks of 32 rows (GPT-2's 64 positions in 2).
      const cap = (4 * V * C) / 3;
      const fixed = { segmentRows: 16, headRows: 32 };
      const c = { model: f.model, lora: f.lora, adapter: f.adapter, ids: f.ids };
      const split = await pass(backend, c, cap, fixed);
      expect(split.tableChunks).toEqual([[0, 32], [32, 64], [64, 96]]);
      expect(split.headChunks).toEqual(split.tableChunks);
      const whole = await pass(backend, c, undefined, { ...fixed, headChunkRows: 32 });
      expect(whole.tableChunks).toEqual([[0, 96]]);
      expectSame(split, whole);
      expect(split.stored).toBe(modelHostBytes(f.model));
      expect(whole.stored).toBe(split.stored);
    }
  });
});

describe('DeviceModel with its tables in chunks', () => {
  it('lends a stored chunk of the head in place, gives rows across chunks and looks up rows from the chunks that hold them', async () => {
    const { rt } = await runtime('node', 2 * MiB);
    for (const model of Object.values(tinyFiles())) {
      const dm = await DeviceModel.upload(rt, model);
      const { hidden: C } = model.config;
      // The table's first 2,048 rows in float32, from the host.
      const e = model.embed;
      const host = e.half ? widenHalf((e.data as Uint16Array).subarray(0, 2048 * C), e.half) : Float32Array.from(e.data.subarray(0, 2048 * C));
      const rowsAt = async (v0: number, v1: number) => {
        const t = await dm.headRows(v0, v1);
        const data = Float32Array.from((await rt.read(t)) as Float32Array);
        return { t, data };
      };
      const before = { ...rt.memory.live };
      // A stored chunk: float32 lent as it is (nothing new held), 2 bytes widened (its float32 counted as weights).
      const chunk = await rowsAt(0, 2048);
      expect(chunk.t.dims).toEqual([2048, C]);
      expect(rt.memory.live.weights - before.weights).toBe(model.embed.half ? 4 * 2048 * C : 0);
      expect(Buffer.compare(Buffer.from(chunk.data.buffer), Buffer.from(host.buffer))).toBe(0);
      dm.releaseHeadRows(chunk.t);
      // Rows across two chunks.
      const across = await rowsAt(2000, 2100);
      const second = await rowsAt(2048, 4096);
      expect(across.data.subarray(0, 48 * C)).toEqual(host.subarray(2000 * C));
      expect(across.data.subarray(48 * C)).toEqual(second.data.subarray(0, 52 * C));
      dm.releaseHeadRows(across.t);
      dm.releaseHeadRows(second.t);
      // The embedding's lookup: ids from three chunks, the rows of each as the head's.
      const feeds = await dm.embedFeeds([[5, 3000, 5, 7000, 2047]]);
      const table = (await rt.read(feeds.embed)) as Float32Array;
      const at = Array.from((await rt.read(feeds.ids)) as BigInt64Array, Number);
      expect(table.subarray(at[0] * C, at[0] * C + C)).toEqual(host.subarray(5 * C, 6 * C));
      expect(table.subarray(at[4] * C, at[4] * C + C)).toEqual(host.subarray(2047 * C, 2048 * C));
      expect(at[2]).toBe(at[0]);
      const far = await rowsAt(6144, 8192);
      expect(table.subarray(at[3] * C, at[3] * C + C)).toEqual(far.data.subarray((7000 - 6144) * C, (7001 - 6144) * C));
      dm.releaseHeadRows(far.t);
      dm.releaseWeights(feeds);
      expect(rt.memory.live).toEqual(before);
      dm.dispose();
    }
  });
});

// Frozen weights stored as bfloat16 or float16 stay 2 bytes a value on the device and are
// widened one layer at a time: losses and LoRA gradients are bit-identical to the same file
// widened to float32 up front (widening is exact), and the accountant counts half the bytes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TARGETS, loraConfig, parseAdapterConfig } from '../src/engine/model/lora';
import { loadModel, type Model } from '../src/engine/model/model';
import { parseConfig } from '../src/engine/model/config';
import { readSafetensors, readSafetensorsHeader } from '../src/engine/model/safetensors';
import { DevicePredictors, PredictorSet } from '../src/engine/sparsity/predictor';
import { parsePolicy } from '../src/engine/sparsity/policy';
import { selectorFor, type Sparsity } from '../src/engine/sparsity/selectors';
import { DeviceModel } from '../src/engine/train/device-model';
import { Trainer } from '../src/engine/train/trainer';
import type { Runtime } from '../src/engine/runtime/runtime';
import { nodeRuntime, rng } from './helpers/runtime';
import { halfAndWidened } from './helpers/half';

const TINY = 'public/models/lemo-tiny';
const GQA = 'test/fixtures/golden/llama-gqa';
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

const modelOf = (dir: string, weights: Uint8Array): Model => loadModel({ config: json(join(dir === GQA ? join(GQA, 'model') : dir, 'config.json')), weights });

/** Loss and gradients (bytes) of one pass, and the accountant's stored and peak weights. */
async function pass(rt: Runtime, model: Model, ids: number[][], sparsity: (rt: Runtime) => Promise<Sparsity>, gqa: boolean) {
  const chosen = await sparsity(rt);
  const before = rt.memory.live.weights;
  const dm = await DeviceModel.upload(rt, model);
  const stored = rt.memory.live.weights - before;
  const lora = gqa ? parseAdapterConfig(json(join(GQA, 'adapter', 'adapter_config.json'))) : loraConfig(8, 16, DEFAULT_TARGETS.llama);
  const adapter = gqa ? readSafetensors(new Uint8Array(readFileSync(join(GQA, 'adapter', 'adapter_model.safetensors')))) : undefined;
  const t = await Trainer.create(dm, model, lora, { seed: 5, adapter });
  const selector = selectorFor(chosen, model.config.layers);
  rt.memory.resetPeaks();
  const r = await t.lossAndGrads(ids, selector);
  const peak = rt.memory.peak.weights - before;
  const grads = new Map<string, Uint8Array>();
  for (const [k, g] of r.grads) grads.set(k, new Uint8Array(Float32Array.from((await rt.read(g)) as Float32Array).buffer));
  r.grads.forEach((g) => rt.dispose(g));
  t.dispose();
  dm.dispose();
  expect(rt.memory.live.weights).toBe(before);
  return { loss: r.loss, grads, stored, peak };
}

const dense = async (): Promise<Sparsity> => ({ mode: 'dense' });
const tinyLemo = async (rt: Runtime): Promise<Sparsity> => ({
  mode: 'lemo',
  predictors: await DevicePredictors.upload(rt, PredictorSet.fromBytes(new Uint8Array(readFileSync(join(TINY, 'predictors.safetensors')))), parseConfig(json(join(TINY, 'config.json')))),
  policy: parsePolicy([null, 0.5, 0.5, 0.5, 0.5, null], 6),
});

describe.each(['wasm', 'node'] as const)('2-byte frozen weights, onnxruntime-%s', (backend) => {
  const tiny = readFileSync(join(TINY, 'model.safetensors'));
  const r = rng(17);
  const tinyIds = [Array.from({ length: 64 }, () => Math.floor(r() * 8192))];

  for (const kind of ['BF16', 'F16'] as const) {
    for (const [mode, sparsity] of kind === 'BF16' ? ([['dense', dense], ['lemo', tinyLemo]] as const) : ([['dense', dense]] as const)) {
      it(`lemo-tiny in ${kind}, ${mode}: loss and LoRA gradients bit-identical to the file widened up front; the stored weights take half the bytes`, async () => {
        const rt = await nodeRuntime(backend);
        const { half, widened } = halfAndWidened(new Uint8Array(tiny), kind);
        expect(readSafetensorsHeader(half).entries.find((e) => e.name === 'model.embed_tokens.weight')!.dtype).toBe(kind);
        const a = await pass(rt, modelOf(TINY, half), tinyIds, sparsity, false);
        const b = await pass(rt, modelOf(TINY, widened), tinyIds, sparsity, false);
        expect(Number.isFinite(a.loss)).toBe(true);
        expect(a.loss).toBe(b.loss);
        expect([...a.grads.keys()].sort()).toEqual([...b.grads.keys()].sort());
        for (const [k, g] of b.grads) expect(Buffer.compare(a.grads.get(k)!, g), k).toBe(0);
        expect(a.stored / b.stored).toBeGreaterThan(0.45);
        expect(a.stored / b.stored).toBeLessThan(0.55);
        expect(b.peak).toBe(b.stored);
      });
    }
  }

  it('llama-gqa in BF16 (an untied head), dense and oracle: bit-identical, and no more than one layer is widened at a time', async () => {
    const rt = await nodeRuntime(backend);
    const { half, widened } = halfAndWidened(new Uint8Array(readFileSync(join(GQA, 'model', 'model.safetensors'))), 'BF16');
    const ids = json(join(GQA, 'tokens.json')).input_ids as number[][];
    const oracle = async (): Promise<Sparsity> => ({ mode: 'oracle', block: 4, policy: parsePolicy([null, 0.5], 2) });
    const model = modelOf(GQA, half);
    // One layer's matrices in float32 outweigh the head's lm_head here, so the peak shows the layers.
    const layerF32 = Math.max(...model.layers.map((w) => [...w.values()].reduce((n, t) => n + (t.half ? 4 * t.data.length : 0), 0)));
    expect(layerF32).toBeGreaterThan(4 * model.lmHead.data.length);
    for (const sparsity of [dense, oracle]) {
      const a = await pass(rt, model, ids, sparsity, true);
      const b = await pass(rt, modelOf(GQA, widened), ids, sparsity, true);
      expect(a.loss).toBe(b.loss);
      for (const [k, g] of b.grads) expect(Buffer.compare(a.grads.get(k)!, g), k).toBe(0);
      expect(a.peak - a.stored).toBe(layerF32);
    }
  });
});

describe('the output embedding by rows (headRows)', () => {
  it("gives rows [v0, v1) of the tied embedding and of an untied lm_head, widened from 2 bytes, as the whole head's", async () => {
    const rt = await nodeRuntime('node');
    for (const [dir, file] of [[TINY, join(TINY, 'model.safetensors')], [GQA, join(GQA, 'model', 'model.safetensors')]] as const) {
      const { half } = halfAndWidened(new Uint8Array(readFileSync(file)), 'BF16');
      const dm = await DeviceModel.upload(rt, modelOf(dir, half));
      const { hidden: C, vocabSize: V } = dm.model.config;
      const whole = await dm.headRows(0, V);
      const head = (await rt.read(whole)) as Float32Array;
      const before = rt.memory.live.weights;
      const rows = await dm.headRows(5, 37);
      expect(rows.dims).toEqual([32, C]);
      expect(rt.memory.live.weights - before).toBe(32 * C * 4);
      const got = (await rt.read(rows)) as Float32Array;
      for (let v = 5; v < 37; v++) for (let c = 0; c < C; c++) expect(got[(v - 5) * C + c]).toBe(head[v * C + c]);
      dm.releaseHeadRows(rows);
      dm.releaseHeadRows(whole);
      expect(rt.memory.live.weights).toBe(before - 4 * V * C);
      dm.dispose();
    }
  });
});

// Pattern predictors: the graph against a float64 host implementation written from the
// description (forward, loss, and finite differences for the generated backward), the file
// format, the lemo mode's selection, and training with elastic pruning.
import { describe, expect, it } from 'vitest';
import { differentiate, gradName } from '../src/engine/graph/autodiff';
import { Trainer } from '../src/engine/train/trainer';
import { selectorFor } from '../src/engine/sparsity/selectors';
import { columnScores } from '../src/engine/sparsity/oracle';
import { keptBlocks, parsePolicy } from '../src/engine/sparsity/policy';
import {
  blockLayout, buildPredictorGraph, DevicePredictors, paddedShape, padSide, paramName, PARTS, PAD_WIDTH, predictedScores, predictedTiles, PredictorSet, SIDES, uploadLayer, type HostParam,
} from '../src/engine/sparsity/predictor';
import { standardise, trainPredictors } from '../src/engine/sparsity/predictor-train';
import type { ModelConfig } from '../src/engine/model/config';
import type { Tensor } from '../src/engine/runtime/runtime';
import { DeviceModel } from '../src/engine/train/device-model';
import { nodeRuntime, rng } from './helpers/runtime';
import { readFixture } from './helpers/fixtures';

const FIXTURE = 'test/fixtures/golden/llama-gqa';

/** Host float64 forward of one layer's predictors: eq, ek as (NB, E) arrays. */
function hostEmbeddings(cfg: ModelConfig, set: PredictorSet, layer: number, h: Float64Array, T: number, norm: Float64Array, params = set.params) {
  const { block, slices: S, sliceDim: D, embed: E } = set.config;
  const C = cfg.hidden;
  const nb = Math.ceil(T / block);
  // RMSNorm with weight.
  const x = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    let ms = 0;
    for (let c = 0; c < C; c++) ms += h[t * C + c] ** 2 / C;
    const inv = 1 / Math.sqrt(ms + cfg.normEps);
    for (let c = 0; c < C; c++) x[t * C + c] = h[t * C + c] * inv * norm[c];
  }
  const out: Record<string, Float64Array> = {};
  for (const side of SIDES) {
    const p = (part: string) => params.get(paramName(layer, side, part as (typeof PARTS)[number]))!;
    const dense = (v: Float64Array, w: HostParam, bias: HostParam) => {
      const [I, O] = w.shape;
      const y = new Float64Array(O);
      for (let o = 0; o < O; o++) {
        let s = bias.data[o];
        for (let i = 0; i < I; i++) s += v[i] * w.data[i * O + o];
        y[o] = s;
      }
      return y;
    };
    const relu = (v: Float64Array) => v.map((a) => Math.max(0, a));
    const e = new Float64Array(nb * E);
    if (set.config.arch === 'pool') {
      // Per token, two layers; the max over the block's tokens (rows ≤ T − 1); the last layer.
      for (let m = 0; m < nb; m++) {
        let pooled: Float64Array | null = null;
        for (let row = m * block; row < Math.min(T, (m + 1) * block); row++) {
          const a = relu(dense(relu(dense(x.subarray(row * C, (row + 1) * C), p('w1'), p('b1'))), p('w2'), p('b2')));
          pooled = pooled ? pooled.map((v, i) => Math.max(v, a[i])) : a;
        }
        e.set(dense(pooled!, p('w3'), p('b3')), m * E);
      }
      out[side] = e;
      continue;
    }
    for (let m = 0; m < nb; m++) {
      for (let s = 0; s < S; s++) {
        // The block's b tokens × this slice's D channels, token-major; rows past T are zeros.
        const flat = new Float64Array(block * D);
        for (let t = 0; t < block; t++) {
          const row = m * block + t;
          if (row >= T) continue;
          for (let d = 0; d < D; d++) flat[t * D + d] = x[row * C + s * D + d];
        }
        const y = dense(relu(dense(relu(dense(flat, p('w1'), p('b1'))), p('w2'), p('b2'))), p('w3'), p('b3'));
        for (let k = 0; k < E; k++) e[m * E + k] += y[k];
      }
    }
    out[side] = e;
  }
  return { eq: out.q, ek: out.k, nb, E };
}

/** Host float64 loss of the `scores` objective. */
function hostLoss(emb: { eq: Float64Array; ek: Float64Array; nb: number; E: number }, labels: Float32Array): number {
  const { eq, ek, nb, E } = emb;
  const tiles = new Float64Array(nb * nb);
  for (let m = 0; m < nb; m++) for (let n = 0; n <= m; n++) for (let k = 0; k < E; k++) tiles[m * nb + n] += eq[m * E + k] * ek[n * E + k];
  const col = columnScores(tiles, nb);
  const mean = col.reduce((a, b) => a + b, 0) / nb;
  const sd = Math.sqrt(col.reduce((a, b) => a + (b - mean) ** 2, 0) / nb + 1e-6);
  let loss = 0;
  for (let n = 0; n < nb; n++) {
    const d = Math.abs((col[n] - mean) / sd - labels[n]);
    loss += (d < 1 ? 0.5 * d * d : d - 0.5) / nb;
  }
  return loss;
}

async function setup(T: number, block: number, arch: 'flat' | 'pool' = 'pool') {
  const rt = await nodeRuntime();
  const f = readFixture(FIXTURE);
  const cfg = f.model.config;
  const set = PredictorSet.init(cfg, block, { r1: 6, r2: 10, embed: 5 }, 7, arch);
  const r = rng(3);
  const h = Float64Array.from({ length: T * cfg.hidden }, () => 2 * r() - 1);
  const norm = Float64Array.from(f.model.layers[1].get('input_layernorm.weight')!.data);
  return { rt, f, cfg, set, h, norm };
}

describe('predictor graph', () => {
  it.each(['flat', 'pool'] as const)('computes the block embeddings as the host does, with a short last block (%s)', async (arch) => {
    const T = 30;
    const { rt, cfg, set, h, norm } = await setup(T, 4, arch);
    const host = hostEmbeddings(cfg, set, 1, h, T, norm);
    const g = buildPredictorGraph(cfg, set.config, set.config.layers[1], false).build();
    const { nb, rows, valid } = blockLayout(T, 4);
    const out = await rt.run(g, {
      h: rt.tensor('float32', Float32Array.from(h), [1, T, cfg.hidden]), 'input_layernorm.weight': rt.tensor('float32', Float32Array.from(norm), [cfg.hidden]),
      ...Object.fromEntries(await uploadLayer(rt, set, 1)),
      rows: rt.tensor('int64', rows, [nb, 4]), valid: rt.tensor('float32', valid, [nb, 4, 1]),
    });
    const eq = (await rt.read(out.eq)) as Float32Array;
    const ek = (await rt.read(out.ek)) as Float32Array;
    expect(eq.length).toBe(nb * 5);
    for (let i = 0; i < eq.length; i++) {
      expect(eq[i]).toBeCloseTo(host.eq[i], 4);
      expect(ek[i]).toBeCloseTo(host.ek[i], 4);
    }
  });

  it.each(['flat', 'pool'] as const)('with its hidden widths padded by zero units (the WebGPU upload) gives the same embeddings (%s)', async (arch) => {
    const T = 30;
    const { rt, cfg, set, h, norm } = await setup(T, 4, arch);
    const shape = set.config.layers[1];
    const padded = { q: paddedShape(shape.q), k: paddedShape(shape.k) };
    // r1 6 and r2 10 round up to 8 and 12.
    expect([padded.q.r1, padded.q.r2]).toEqual([8, 12]);
    expect(PAD_WIDTH).toBe(4);
    const params = new Map(set.params);
    for (const side of SIDES) {
      padSide(PARTS.map((part) => set.params.get(paramName(1, side, part))!), shape[side]).forEach((p, i) => params.set(paramName(1, side, PARTS[i]), p));
    }
    expect(params.get(paramName(1, 'q', 'w2'))!.shape).toEqual([8, 12]);
    // On the host, in float64, the zero units add exact zeros: the same values bit for bit.
    const host = hostEmbeddings(cfg, set, 1, h, T, norm);
    const hostPadded = hostEmbeddings(cfg, set, 1, h, T, norm, params);
    expect(Array.from(hostPadded.eq)).toEqual(Array.from(host.eq));
    expect(Array.from(hostPadded.ek)).toEqual(Array.from(host.ek));
    // The padded graph on the runtime, against the unpadded host forward.
    const g = buildPredictorGraph(cfg, set.config, padded, false).build();
    const { nb, rows, valid } = blockLayout(T, 4);
    const out = await rt.run(g, {
      h: rt.tensor('float32', Float32Array.from(h), [1, T, cfg.hidden]), 'input_layernorm.weight': rt.tensor('float32', Float32Array.from(norm), [cfg.hidden]),
      ...Object.fromEntries(await uploadLayer(rt, set, 1, true)),
      rows: rt.tensor('int64', rows, [nb, 4]), valid: rt.tensor('float32', valid, [nb, 4, 1]),
    });
    const eq = (await rt.read(out.eq)) as Float32Array;
    const ek = (await rt.read(out.ek)) as Float32Array;
    for (let i = 0; i < eq.length; i++) {
      expect(eq[i]).toBeCloseTo(host.eq[i], 4);
      expect(ek[i]).toBeCloseTo(host.ek[i], 4);
    }
  });

  it.each(['flat', 'pool'] as const)('generates a backward whose gradients match central finite differences of the host loss (%s)', async (arch) => {
    const T = 24;
    const block = 4;
    const { rt, cfg, set, h, norm } = await setup(T, block, arch);
    const nb = T / block;
    const labels = standardise(Array.from({ length: nb }, (_, i) => Math.sin(3 * i) + i / nb));
    const fb = buildPredictorGraph(cfg, set.config, set.config.layers[0], true, 'scores');
    const wrt = fb.inputs.map((i) => i.name).filter((n) => /^[qk]\.[wb]\d$/.test(n));
    const g = differentiate(fb, { wrt, seeds: ['loss'], fusedOutputs: 'all' }).fused;
    const { rows, valid } = blockLayout(T, block);
    const mask = new Float32Array(nb * nb);
    const strict = new Float32Array(nb * nb);
    for (let m = 0; m < nb; m++) for (let n = 0; n <= m; n++) (mask[m * nb + n] = 1), (strict[m * nb + n] = n < m ? 1 : 0);
    const out = await rt.run(g, {
      h: rt.tensor('float32', Float32Array.from(h), [1, T, cfg.hidden]), 'input_layernorm.weight': rt.tensor('float32', Float32Array.from(norm), [cfg.hidden]),
      ...Object.fromEntries(await uploadLayer(rt, set, 0)),
      rows: rt.tensor('int64', rows, [nb, block]), valid: rt.tensor('float32', valid, [nb, block, 1]),
      mask: rt.tensor('float32', mask, [nb, nb]), strict: rt.tensor('float32', strict, [nb, nb]), labels: rt.tensor('float32', labels, [1, nb]),
      inv_nb: rt.tensor('float32', Float32Array.of(1 / nb), []), inv_count: rt.tensor('float32', Float32Array.of(1 / nb), []),
      [gradName('loss')]: rt.tensor('float32', Float32Array.of(1), []),
    });
    const loss = await rt.readScalar(out.loss);
    const f64 = new Map([...set.params].map(([k, v]) => [k, { shape: v.shape, data: Float64Array.from(v.data) as unknown as Float32Array }]));
    const base = hostLoss(hostEmbeddings(cfg, set, 0, h, T, norm, f64), labels);
    expect(Math.abs(loss - base) / base).toBeLessThan(1e-4);
    // A few coordinates of every tensor, central differences in float64.
    const r = rng(11);
    let checked = 0;
    for (const side of SIDES) {
      for (const part of PARTS) {
        const name = paramName(0, side, part);
        const grad = (await rt.read(out[gradName(`${side}.${part}`)])) as Float32Array;
        const p = f64.get(name)!;
        for (let c = 0; c < 3; c++) {
          const i = Math.floor(r() * p.data.length);
          const eps = 1e-5;
          const keep = p.data[i];
          p.data[i] = keep + eps;
          const up = hostLoss(hostEmbeddings(cfg, set, 0, h, T, norm, f64), labels);
          p.data[i] = keep - eps;
          const down = hostLoss(hostEmbeddings(cfg, set, 0, h, T, norm, f64), labels);
          p.data[i] = keep;
          const fd = (up - down) / (2 * eps);
          expect(Math.abs(grad[i] - fd)).toBeLessThan(2e-3 * Math.max(1e-2, Math.abs(fd)) + 1e-5);
          checked++;
        }
      }
    }
    expect(checked).toBe(36);
  });
});

describe('predictors file', () => {
  it('round-trips and refuses files that are not predictors or belong to another model', async () => {
    const f = readFixture(FIXTURE);
    const set = PredictorSet.init(f.model.config, 4, { r1: 6, r2: 10, embed: 5 }, 1, 'flat');
    const back = PredictorSet.fromBytes(set.toBytes());
    expect(back.config).toEqual(set.config);
    for (const [k, v] of set.params) expect(back.params.get(k)!.data).toEqual(v.data);
    expect(back.parameterCount).toBe(2 * 2 * (4 * 8 * 6 + 6 + 6 * 10 + 10 + 10 * 5 + 5));
    const other = readFixture('test/fixtures/golden/llama-tied-scaled-mlp').model.config;
    expect(() => back.checkModel(other)).toThrow(/trained for a LlamaForCausalLM with 2 layers, hidden 32/);
    const { writeSafetensors } = await import('../src/engine/model/safetensors');
    expect(() => PredictorSet.fromBytes(writeSafetensors(new Map([['x', { shape: [1], data: Float32Array.of(1) }]])))).toThrow(/not a predictors file/);
  });
});

describe('predicted block scores', () => {
  it('equal the tile map\'s symmetrised column sums, over a batch and a block count that is not a power of two', () => {
    const r = rng(3);
    const [B, nb, E] = [2, 7, 5];
    const eq = Float32Array.from({ length: B * nb * E }, () => r() * 2 - 1);
    const ek = Float32Array.from({ length: B * nb * E }, () => r() * 2 - 1);
    const want = columnScores(predictedTiles(eq, ek, nb, E), nb);
    const got = predictedScores(eq, ek, nb, E);
    expect(got.length).toBe(nb);
    for (let n = 0; n < nb; n++) expect(got[n]).toBeCloseTo(want[n], 10);
    // Not a constant: the scores differ between blocks.
    expect(new Set(Array.from(got, (x) => x.toFixed(6))).size).toBe(nb);
  });
});

describe('lemo mode', () => {
  it.each(['pool', 'flat'] as const)('keeps the blocks the predictors score highest and never runs the oracle unless asked for recall (%s, a short last block)', async (arch) => {
    const rt = await nodeRuntime();
    const f = readFixture(FIXTURE);
    const cfg = f.model.config;
    const T = 42;
    const r = rng(5);
    const ids = [Array.from({ length: T }, () => Math.floor(r() * cfg.vocabSize))];
    const set = PredictorSet.init(cfg, 4, { r1: 6, r2: 10, embed: 5 }, 2, arch);
    const dm = await DeviceModel.upload(rt, f.model);
    const dp = await DevicePredictors.upload(rt, set, cfg);
    const trainer = await Trainer.create(dm, f.model, f.lora, { adapter: f.adapter });
    const policy = parsePolicy([null, 0.5], 2);
    const sparsity = { mode: 'lemo' as const, predictors: dp, policy, recall: false };
    const selector = selectorFor(sparsity, 2);
    // Layer 1's input, from a dense pass, to score on the host.
    let h1: Float64Array | null = null;
    const dense = await Trainer.create(dm, f.model, f.lora, { adapter: f.adapter });
    await dense.visitLayers(ids, async (l, h) => {
      if (l === 1) h1 = Float64Array.from((await rt.read(h)) as Float32Array);
    });
    const norm = Float64Array.from(f.model.layers[1].get('input_layernorm.weight')!.data);
    const e = hostEmbeddings(cfg, set, 1, h1!, T, norm);
    const tiles = new Float64Array(e.nb * e.nb);
    for (let m = 0; m < e.nb; m++) for (let n = 0; n <= m; n++) for (let k = 0; k < e.E; k++) tiles[m * e.nb + n] += e.eq[m * e.E + k] * e.ek[n * e.E + k];
    const expected = keptBlocks(columnScores(tiles, e.nb), policy[1]);

    const names: string[] = [];
    const run = rt.run.bind(rt);
    rt.run = async (g, feeds) => {
      names.push(g.name);
      return run(g, feeds);
    };
    try {
      const res = await trainer.lossAndGrads(ids, selector);
      expect(Number.isFinite(res.loss)).toBe(true);
      expect(selector.last!.kept).toEqual([null, expected]);
      expect(names.some((n) => n.startsWith('predictor_fwd'))).toBe(true);
      expect(names.some((n) => n.includes('block_scores'))).toBe(false);
      names.length = 0;
      const withRecall = selectorFor({ ...sparsity, recall: true }, 2);
      await trainer.nll(ids, withRecall);
      expect(names.some((n) => n.includes('block_scores'))).toBe(true);
      const rec = withRecall.last!.recall!;
      expect(rec[0]).toBeNull();
      expect(rec[1]).toBeGreaterThanOrEqual(0);
      expect(rec[1]).toBeLessThanOrEqual(1);
    } finally {
      rt.run = run;
    }
  });
});

describe('predictor training', () => {
  it('lowers its loss, prunes the most often zero units and writes a file the lemo mode loads', async () => {
    const rt = await nodeRuntime();
    const f = readFixture(FIXTURE);
    const cfg = f.model.config;
    const r = rng(9);
    const doc = () => Array.from({ length: 200 }, () => Math.floor(r() * cfg.vocabSize));
    const trainer = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
    const events: { type: string; loss?: number; parametersBefore?: number; parametersAfter?: number; recall?: (number | null)[] }[] = [];
    const set = await trainPredictors(trainer, [doc(), doc()], [doc()], {
      ctx: 64, steps: 30, block: 8, sizes: { r1: 8, r2: 12, embed: 6 }, lr: 3e-3, seed: 1, prune: 0.25, pruneAt: 10,
      evalEvery: 0, evalWindows: 2, policy: parsePolicy([0.5, 0.5], 2),
    }, (p) => events.push(p));
    const losses = events.filter((e) => e.type === 'step').map((e) => e.loss!);
    expect(losses.length).toBe(30);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)));
    const prune = events.find((e) => e.type === 'prune')!;
    // 25% of each hidden level: r1 8 → 6, r2 12 → 9, in each of 2 sides × 2 layers (pool: input 32).
    const per = (r1: number, r2: number) => 32 * r1 + r1 + r1 * r2 + r2 + r2 * 6 + 6;
    expect(prune.parametersBefore).toBe(4 * per(8, 12));
    expect(prune.parametersAfter).toBe(4 * per(6, 9));
    expect(set.config.layers[1].k).toEqual({ r1: 6, r2: 9 });
    const rec = events.find((e) => e.type === 'recall')!.recall!;
    expect(rec).toHaveLength(2);
    for (const x of rec) expect(x).toBeGreaterThan(0);
    const back = PredictorSet.fromBytes(set.toBytes());
    const dp = await DevicePredictors.upload(rt, back, cfg);
    const selector = selectorFor({ mode: 'lemo', predictors: dp, policy: parsePolicy([null, 0.5], 2) }, 2);
    const res = await trainer.lossAndGrads([doc().slice(0, 64)], selector);
    expect(Number.isFinite(res.loss)).toBe(true);
    expect(selector.last!.kept[1]).toHaveLength(4);
    for (const g of res.grads.values()) rt.dispose(g as Tensor);
  });
});

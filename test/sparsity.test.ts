// Token elimination: forced keep sets, the oracle's block scores and the keep policy.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Trainer } from '../src/engine/train/trainer';
import { selectorFor } from '../src/engine/sparsity/selectors';
import { blockScores, buildScoreGraph, columnScores } from '../src/engine/sparsity/oracle';
import { artifactPolicy, keptBlocks, parsePolicy } from '../src/engine/sparsity/policy';
import { blocksToRows, parseKeepSpec } from '../src/engine/sparsity/blocks';
import { parseConfig } from '../src/engine/model/config';
import { nodeRuntime, randn, relErr, rng } from './helpers/runtime';
import { readFixture } from './helpers/fixtures';

describe('forced keep sets', () => {
  it('keeping every block equals the dense step exactly', async () => {
    const rt = await nodeRuntime();
    const f = readFixture('test/fixtures/golden/llama-tied-scaled-mlp');
    const dense = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
    const a = await dense.lossAndGrads(f.ids);
    const sparse = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
    const T = f.ids[0].length;
    const selector = selectorFor({ mode: 'keep', spec: parseKeepSpec({ block: 4, layers: [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]] }, 3, T) }, 3);
    const b = await sparse.lossAndGrads(f.ids, selector);
    expect(b.loss).toBe(a.loss);
    for (const [k, g] of a.grads) expect(relErr((await rt.read(b.grads.get(k)!)) as Float32Array, (await rt.read(g)) as Float32Array)).toBeLessThan(1e-6);
    expect(selector.last?.kept).toEqual([[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]);
  });

  it('eliminating blocks changes the loss, and a block past the end is refused', async () => {
    const rt = await nodeRuntime();
    const f = readFixture('test/fixtures/golden/gpt2-mlp');
    const t = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
    const r = await t.lossAndGrads(f.ids, selectorFor({ mode: 'keep', spec: { block: 4, layers: [null, [0, 5], [1, 2]] } }, 3));
    expect(Math.abs(r.loss - f.expected.loss)).toBeGreaterThan(1e-4);
    await expect(t.lossAndGrads(f.ids, selectorFor({ mode: 'keep', spec: { block: 4, layers: [null, [0, 6], null] } }, 3))).rejects.toThrow(/kept block 6 is past the sequence's last block \(5\)/);
    expect(() => parseKeepSpec({ block: 4, layers: [null, null] }, 3, 24)).toThrow(/one entry per layer \(3\)/);
  });

  it('MLP channel sparsity keeps the forward exact and the gradient through the kept channels only', async () => {
    const rt = await nodeRuntime();
    const f = readFixture('test/fixtures/golden/gpt2');
    const spec = { block: 4, layers: [[0, 2, 3], [1, 3]] };
    const run = async (mlpKeep?: number, layers: (number[] | null)[] = spec.layers) => {
      const t = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
      const selector = selectorFor({ mode: 'keep', spec: { block: spec.block, layers }, mlpKeep }, 2);
      rt.memory.resetPeaks();
      const r = await t.lossAndGrads(f.ids, selector);
      const grads = new Map<string, Float32Array>();
      for (const [k, g] of r.grads) grads.set(k, Float32Array.from((await rt.read(g)) as Float32Array));
      return { loss: r.loss, grads, saved: rt.memory.peak.activations };
    };
    const exact = await run();
    const all = await run(1);
    const fifth = await run(0.2);
    expect(Math.abs(all.loss - exact.loss) / exact.loss).toBeLessThan(1e-6);
    expect(Math.abs(fifth.loss - exact.loss) / exact.loss).toBeLessThan(1e-6);
    for (const [k, g] of exact.grads) expect(relErr(all.grads.get(k)!, g), k).toBeLessThan(1e-5);
    // Layer 0's q/k/v gradients see the approximation through both layers' MLPs.
    const q0 = 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight';
    expect(relErr(fifth.grads.get(q0)!, exact.grads.get(q0)!)).toBeGreaterThan(1e-3);
    expect(fifth.saved).toBeLessThan(exact.saved);
    // In every layer, token-eliminating or not: with no row left out, only the MLP's saved values shrink.
    const dense = await run(undefined, [null, null]);
    const denseFifth = await run(0.2, [null, null]);
    expect(Math.abs(denseFifth.loss - dense.loss) / dense.loss).toBeLessThan(1e-6);
    expect(relErr(denseFifth.grads.get(q0)!, dense.grads.get(q0)!)).toBeGreaterThan(1e-3);
    expect(denseFifth.saved).toBeLessThan(dense.saved);
  });

  const SPARSE = 'test/fixtures/golden-sparse';
  const cases = existsSync(SPARSE) ? readdirSync(SPARSE).filter((d) => existsSync(join(SPARSE, d, 'grads.safetensors'))) : [];
  it('has the independent sparse references', () => {
    expect(cases.length).toBeGreaterThanOrEqual(4);
  });
  for (const name of cases) {
    for (const segmented of [false, true]) {
      it(`matches the PyTorch reference of LEMO.md's sparse layer: ${name}${segmented ? ', segmented' : ''}`, async () => {
        const dir = join(SPARSE, name);
        const source = JSON.parse(readFileSync(join(dir, 'source.json'), 'utf8'));
        const f = readFixture(dir, source.model, source.adapter);
        const rt = await nodeRuntime();
        const t = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter, ...(segmented ? { segmentRows: 7, headRows: 9 } : {}) });
        const keep = JSON.parse(readFileSync(join(dir, 'keep.json'), 'utf8'));
        const selector = selectorFor({ mode: 'keep', spec: parseKeepSpec(keep, f.model.config.layers, f.ids[0].length) }, f.model.config.layers);
        const r = await t.lossAndGrads(f.ids, selector);
        expect(Math.abs(r.loss - f.expected.loss) / f.expected.loss).toBeLessThan(1e-4);
        for (const [k, ref] of f.grads) expect(relErr((await rt.read(r.grads.get(k)!)) as Float32Array, ref.data), k).toBeLessThan(1e-4);
      });
    }
  }
});

describe('oracle block scores', () => {
  it('equal ReLU(q·kᵀ/√D) over earlier keys, head-averaged, tile-maxed, symmetrised and column-summed', async () => {
    const rt = await nodeRuntime();
    const cfg = parseConfig({ model_type: 'llama', vocab_size: 16, hidden_size: 16, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2 });
    const [B, H, KV, D, T, block] = [2, 4, 2, 4, 19, 4];
    const r = rng(5);
    const q = randn(r, B * H * T * D);
    const k = randn(r, B * KV * T * D);
    const graph = buildScoreGraph(cfg, block);
    const scores = await blockScores(rt, graph, rt.tensor('float32', Float32Array.from(q), [B, H, T, D]), rt.tensor('float32', Float32Array.from(k), [B, KV, T, D]), T, block, 8);
    // Reference on the host, in float64: per batch element the max within each tile, summed over the batch.
    const nb = Math.ceil(T / block);
    const tiles = new Float64Array(nb * nb);
    for (let b = 0; b < B; b++) {
      const tileMax = new Float64Array(nb * nb);
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < i; j++) {
          let s = 0;
          for (let h = 0; h < H; h++) {
            const kh = Math.floor(h / (H / KV));
            let dot = 0;
            for (let d = 0; d < D; d++) dot += Math.fround(q[((b * H + h) * T + i) * D + d]) * Math.fround(k[((b * KV + kh) * T + j) * D + d]);
            s += Math.max(0, dot / Math.sqrt(D)) / H;
          }
          const x = Math.floor(i / block) * nb + Math.floor(j / block);
          tileMax[x] = Math.max(tileMax[x], s);
        }
      }
      for (let x = 0; x < nb * nb; x++) tiles[x] += tileMax[x];
    }
    expect(relErr(scores, columnScores(tiles, nb))).toBeLessThan(1e-5);
  });

  it('symmetrises: a block is credited as key and as query', () => {
    // 2 blocks: query block 1 attends key block 0 with 3; block 0's own tile 1; block 1's own 2.
    const tiles = Float64Array.of(1, 0, 3, 2);
    expect(Array.from(columnScores(tiles, 2))).toEqual([1 + 3, 3 + 2]);
  });
});

describe('keep policy', () => {
  it("defaults to the paper artifact's: first half and last layer dense, others keep 40%", () => {
    expect(artifactPolicy(6).map((p) => (p.kind === 'ratio' ? p.keep : null))).toEqual([null, null, null, 0.4, 0.4, null]);
  });

  it('keeps the top share of blocks by score, or those above a multiple of the mean', () => {
    const s = [5, 1, 9, 3, 7, 2, 8, 4, 6, 0];
    expect(keptBlocks(s, { kind: 'ratio', keep: 0.4 })).toEqual([2, 4, 6, 8]);
    expect(keptBlocks(s, { kind: 'threshold', factor: 1.5 })).toEqual([2, 4, 6]);
    expect(keptBlocks(s, { kind: 'ratio', keep: 1 })).toBeNull();
    expect(parsePolicy([null, 0.5, { threshold: 1 }], 3).map((p) => p.kind)).toEqual(['dense', 'ratio', 'threshold']);
    expect(() => parsePolicy([null, 1.5], 2)).toThrow(/keep ratio must be in \(0, 1\]/);
  });

  it('maps blocks to token rows, with a short last block', () => {
    expect(blocksToRows([2, 0], 4, 10)).toEqual([0, 1, 2, 3, 8, 9]);
  });
});

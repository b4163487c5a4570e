// The engine's WGSL kernels on the WebGPU adapter (SwiftShader here): attention forward and
// backward against the graphs they replace, at sizes that cross tiles (rows not a multiple of
// the tile, gaps in the positions as a token-eliminating layer has, grouped query heads, head
// sizes on both sides of the dk/dv split, shifted sparse attention), the backward against finite
// differences, AdamW against its graph, and the widening of 2-byte weights against the host's.
import { test, expect } from '@playwright/test';
import { sharedHarnessPage } from './helpers/harness-page';
import type { KernelCase } from './kernel-check';

/** Ascending positions with gaps: every third token left out after the first 20. */
const gapped = (n: number) => Array.from({ length: n * 2 }, (_, i) => i).filter((i) => i < 20 || i % 3 !== 0).slice(0, n);
const dense = (n: number) => Array.from({ length: n }, (_, i) => i);

const CASES: [string, KernelCase][] = [
  ['dense, D 32, grouped heads, 150 rows', { H: 4, KV: 2, D: 32, positions: dense(150), group: 0 }],
  ['kept rows with gaps, D 64, 131 rows', { H: 2, KV: 1, D: 64, positions: gapped(131), group: 0 }],
  ['shifted sparse attention, group 32, kept rows', { H: 4, KV: 2, D: 16, positions: gapped(140), group: 32 }],
  // Past 1,024 rows the other side's rows are cut into chunks whose parts are merged after.
  ['two chunks: 1,100 kept rows, grouped heads', { H: 4, KV: 2, D: 16, positions: gapped(1100), group: 0 }],
  ['two chunks with shifted sparse attention, group 128', { H: 2, KV: 1, D: 8, positions: gapped(1100), group: 128 }],
];

test.describe('WGSL kernels on WebGPU', () => {
  // One page for the file: onnxruntime starts once and its compiled pipelines serve every test.
  const page = sharedHarnessPage();

  for (const [name, c] of CASES) {
    test(`attention against the graph path: ${name}`, async () => {
      const r = await page().evaluate(async ([kc]) => (await (window as any).harness.kernels()).attentionAgainstGraphs(kc, 7), [c] as const);
      for (const k of ['o', 'dq', 'dk', 'dv'] as const) expect(r[k], k).toBeLessThan(1e-4);
      expect(r.runs.attn_fwd).toBe(1);
      expect(r.runs.attn_dq).toBe(1);
      expect(r.runs.attn_merge ?? 0).toBe(c.positions.length > 1024 ? 1 : 0);
    });
  }

  test('attention backward against finite differences', async () => {
    const c: KernelCase = { H: 2, KV: 1, D: 8, positions: gapped(70), group: 0 };
    const r = await page().evaluate(async ([kc]) => (await (window as any).harness.kernels()).attentionFiniteDifferences(kc, 3, 6, 1e-2), [c] as const);
    for (const k of ['q', 'k', 'v'] as const) expect(r[k], k).toBeLessThan(2e-2);
  });

  test('AdamW in place against the AdamW graph', async () => {
    const r = await page().evaluate(async () => (await (window as any).harness.kernels()).adamwAgainstGraph(70_000, 3, 5));
    expect(r.moved).toBeGreaterThan(1e-4);
    for (const k of ['p', 'm', 'v'] as const) expect(r[k], k).toBeLessThan(1e-5);
  });

  test('a training step reads back from the GPU only its loss and gradient norm; with host offload, a layer once, and nothing stays behind', async () => {
    const [plain, offloaded] = await page().evaluate(async () => (await (window as any).harness.kernels()).stepReadBacks(64, ['none', 'host']));
    expect(Number.isFinite(plain.loss)).toBe(true);
    expect(plain.runs.adamw).toBeGreaterThan(0);
    // No session run waits on the GPU: the only reads are the engine's own (the loss of the
    // head's one segment at 64 tokens, and the gradient norm).
    expect(plain.counts).toEqual({ 'read:step': 2 });
    // The step's outputs and the kernels' buffers come from the engine's pool: layers after the
    // first reuse the buffers the ones before gave back.
    expect(plain.pool.reused).toBeGreaterThan(plain.pool.made);
    expect(offloaded.loss).toBe(plain.loss);
    // With offload: per layer one staging read (and at most one read that makes onnxruntime
    // submit what it recorded); none inside a session run (a host int64 shape tensor brought
    // back onto the GPU would cost one there).
    expect(Object.keys(offloaded.counts).sort()).toEqual(['read:step', 'step']);
    expect(offloaded.counts['read:step']).toBe(2);
    expect(offloaded.counts.step).toBeLessThanOrEqual(2 * offloaded.layers);
    // Each parked tensor's GPU buffer is freed once read out: the GPU holds no more after the step than before it.
    expect(offloaded.offloadedPeak).toBeGreaterThan(0);
    expect(offloaded.gpuGrowth).toBeLessThan(0.1 * offloaded.offloadedPeak);
  });

  test('a lemo step waits on the GPU once per token-eliminating layer (the predictors\' embeddings), besides its loss and gradient norm', async () => {
    const [lemo] = await page().evaluate(async () => (await (window as any).harness.kernels()).stepReadBacks(64, ['lemo']));
    expect(Number.isFinite(lemo.loss)).toBe(true);
    expect(lemo.sparseLayers).toBeGreaterThan(0);
    // The predictors' two embeddings come back in one read; no session run waits on the GPU.
    expect(lemo.counts).toEqual({ 'read:step': 2, step: lemo.sparseLayers });
  });

  test("the predictors' hidden widths padded on the GPU (45 units to 48) give the unpadded block scores", async () => {
    const r = await page().evaluate(async () => (await (window as any).harness.kernels()).paddedPredictorsAgainstUnpadded(200));
    expect(r.length).toBeGreaterThan(0);
    expect(r.some((l: { widths: number[] }) => l.widths[0] === 45 && l.widths[1] === 48)).toBe(true);
    for (const l of r) {
      expect(l.widths[1] % 4, `layer ${l.layer}`).toBe(0);
      expect(l.n, `layer ${l.layer}`).toBe(7);
      expect(l.rel, `layer ${l.layer}`).toBeLessThan(1e-4);
    }
  });

  test('2-byte weights widened on the GPU bit for bit as on the host: bf16, and f16 with subnormals, infinities and NaNs', async () => {
    const r = await page().evaluate(async () => (await (window as any).harness.kernels()).widenAgainstHost());
    for (const kind of ['bf16', 'f16'] as const) {
      expect(r[kind].mismatches, kind).toBe(0);
      for (const k of ['nans', 'infinities', 'subnormals', 'zeros'] as const) expect(r[kind][k], `${kind} ${k}`).toBeGreaterThan(0);
    }
    expect(r.runs.widen_half).toBe(2);
  });

  test('a bfloat16 model trains on the GPU bit for bit as its values widened to float32 up front, with half the weight bytes', async () => {
    const r = await page().evaluate(async () => (await (window as any).harness.kernels()).halfStepAgainstWidened(64));
    expect(Number.isFinite(r.losses[0])).toBe(true);
    expect(r.losses[0]).toBe(r.losses[1]);
    expect(r.names).toBeGreaterThan(0);
    expect(r.differing).toEqual([]);
    expect(r.stored[0] / r.stored[1]).toBeLessThan(0.55);
    expect(r.widenRuns[0]).toBeGreaterThan(0);
    expect(r.widenRuns[1]).toBe(0);
  });

  test("the layers' graphs on the engine's own kernels give onnxruntime's loss and LoRA gradients, dense and leaving tokens out", async () => {
    const out = await page().evaluate(async () => (await (window as any).harness.kernels()).ownGraphsAgainstOnnxruntime(64));
    for (const r of out) {
      expect(Number.isFinite(r.losses[0])).toBe(true);
      expect(Math.abs(r.losses[1] - r.losses[0]) / Math.abs(r.losses[0])).toBeLessThan(1e-5);
      expect(r.grads).toBeGreaterThan(0);
      for (const [name, e] of Object.entries(r.errs)) expect(e, name).toBeLessThan(1e-4);
      // onnxruntime's runtime ran none of them on the engine's kernels.
      expect(r.ranWithout).toEqual([]);
      expect(r.graphDispatches).toBeGreaterThan(0);
    }
    const [dense, sparse] = out;
    expect(dense.ran).toEqual(expect.arrayContaining(['llama_pre_fwd', 'llama_pre_bwd', 'llama_post_fwd', 'llama_post_bwd', 'llama_head_chunk']));
    expect(sparse.kept.filter((k: unknown) => k !== null)).toHaveLength(1);
    expect(sparse.ran).toEqual(expect.arrayContaining(['llama_pre_sparse_fwd', 'llama_pre_sparse_bwd', 'llama_post_sparse_bwd']));
    // With the MLP's channel selection (TopK) on the GPU too; no layer graph left to onnxruntime.
    expect(sparse.ran).toContain('llama_post_sparse_fwd');
    expect(sparse.topk).toBeGreaterThan(0);
    expect(Object.keys(sparse.declined).filter((g) => /_(pre|post)/.test(g))).toEqual([]);
  });

  test("the oracle's block scores against its score graph", async () => {
    // 200 tokens: a last block of 8 rows, grouped heads.
    const r = await page().evaluate(async () => (await (window as any).harness.kernels()).blockScoresAgainstGraph({ H: 4, KV: 2, D: 16, T: 200, block: 32 }, 11));
    expect(r.supported).toBe(true);
    expect(r.tiles).toBe(49);
    expect(r.nonzero).toBeGreaterThan(20);
    expect(r.err).toBeLessThan(1e-4);
    expect(r.runs.block_scores).toBe(1);
  });

  test("onnxruntime's device has its adapter's largest buffers, storage bindings and workgroup memory", async () => {
    const r = await page().evaluate(async () => (await (window as any).harness.kernels()).deviceLimits());
    expect(r.device).toEqual(r.adapter);
    // WebGPU's defaults, which a device gets unless it asks: 128 MiB bindings, 16 KiB of workgroup memory.
    expect(r.device.binding).toBeGreaterThan(128 * 2 ** 20);
  });
});

// Lookup tables over one GPU buffer's limit under WebGPU (SwiftShader here): the runtime takes
// its limit from onnxruntime's device, or a smaller one set for it; lemo-tiny's tied embedding
// (the model cut to its first layer), stored in chunks of rows under a limit of 2 MiB, gives the
// loss and LoRA gradients of the table stored whole, bit for bit, and no GPU buffer over the limit
// is created.
import { test, expect } from '@playwright/test';
import { sharedHarnessPage } from './helpers/harness-page';

const MiB = 2 ** 20;

test.describe('lookup tables in chunks of rows on WebGPU', () => {
  const page = sharedHarnessPage();

  test("the runtime's buffer limit is the device's (its adapter's largest), or the smaller one it is given", async () => {
    const r = await page().evaluate(async () => (await (window as any).harness.tables()).bufferLimits());
    expect(r.read).toBe(r.adapter);
    expect(r.read).toBeGreaterThan(128 * MiB);
    const capped = await page().evaluate(async (cap) => (await (window as any).harness.tables()).bufferLimits(cap), 2 * MiB);
    expect(capped.read).toBe(2 * MiB);
  });

  for (const kind of ['f32', 'bf16'] as const) {
    test(`lemo-tiny (one layer) in ${kind} under a 2 MiB limit: a step's loss and LoRA gradients as the whole table's, no GPU buffer over 2 MiB`, async () => {
      const r = await page().evaluate(async ([k, cap]) => (await (window as any).harness.tables()).chunkedAgainstWhole(k, 64, cap), [kind, 2 * MiB] as const);
      expect(r.chunked.tableChunks).toEqual([[0, 2048], [2048, 4096], [4096, 6144], [6144, 8192]]);
      expect(r.chunked.headChunks).toEqual(r.chunked.tableChunks);
      expect(r.whole.tableChunks).toEqual([[0, 8192]]);
      expect(r.whole.headChunks).toEqual(r.chunked.tableChunks);
      expect(Number.isFinite(r.chunked.loss)).toBe(true);
      expect(r.chunked.loss).toBe(r.whole.loss);
      expect(r.names).toBeGreaterThan(0);
      expect(r.differing).toEqual([]);
      // The same weights held, a tied table once; everything freed after.
      expect(r.chunked.stored).toBe(r.whole.stored);
      expect([r.chunked.left, r.whole.left]).toEqual([0, 0]);
      // Stored whole, the table takes one buffer over the limit; in chunks, no buffer is.
      expect(r.whole.largest).toBeGreaterThanOrEqual(r.tableBytes);
      expect(r.chunked.largest).toBeLessThanOrEqual(2 * MiB);
      // 2-byte chunks are widened on the GPU, each as the head reads it.
      if (kind === 'bf16') expect(r.chunked.kernelRuns.widen_half).toBeGreaterThan(0);
    });
  }
});

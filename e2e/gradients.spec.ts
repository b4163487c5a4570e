// The engine in Chromium, in its Web Worker, against transformers + PEFT: loss and every LoRA
// gradient of the golden fixtures with the WebGPU provider (SwiftShader here) and with WASM.
import { existsSync, readFileSync } from 'node:fs';
import { test, expect } from '@playwright/test';
import { sharedHarnessPage } from './helpers/harness-page';
import { readSafetensors } from '../src/engine/model/safetensors';
import { relErr } from '../test/helpers/compare';

const CASES = ['llama-gqa', 'llama-tied-scaled-mlp', 'qwen2', 'gpt2', 'gpt2-mlp'];
/** Shifted sparse attention, alone and with a forced keep set (tools/golden/make_s2_golden.py). */
const S2_CASES = ['llama-gqa-s2', 'llama-gqa-s2-sparse'];

/** Under WebGPU the attention runs in the engine's WGSL kernels (forward, then the backward's stats, dq and dk/dv). */
function expectKernels(runs: Record<string, number>, provider: string) {
  if (provider === 'wasm') return expect(runs).toEqual({});
  for (const k of ['attn_fwd', 'attn_stats', 'attn_dq']) expect(runs[k], k).toBeGreaterThan(0);
  expect((runs.attn_dkv ?? 0) + (runs.attn_dk ?? 0), 'attn_dk').toBe(runs.attn_dq);
}

for (const provider of ['webgpu', 'wasm'] as const) {
  test.describe(`gradients in a worker, ${provider}`, () => {
    // One page, and in it one engine worker, for the provider's fixtures (e2e/harness.ts).
    const page = sharedHarnessPage();
    for (const name of CASES) {
      test(name, async () => {
        const dir = `test/fixtures/golden/${name}`;
        const r = await page().evaluate(([d, p]) => (window as any).harness.grad(`/${d}`, p), [dir, provider] as const);
        expect(r.provider).toBe(provider);
        // Under WebGPU, LoRA factors and gradients stay in GPU buffers between sessions.
        expect(r.locations).toEqual([provider === 'webgpu' ? 'gpu-buffer' : 'cpu']);
        expectKernels(r.kernelRuns, provider);
        const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8'));
        expect(Math.abs(r.loss - expected.loss) / expected.loss).toBeLessThan(1e-4);
        const ref = readSafetensors(new Uint8Array(readFileSync(`${dir}/grads.safetensors`)));
        expect(Object.keys(r.grads).sort()).toEqual([...ref.keys()].sort());
        for (const [key, t] of ref) expect(relErr(r.grads[key], t.data), key).toBeLessThan(1e-4);
      });
    }
    // The LM head in three vocabulary chunks of uneven size (33, 33 and 30 of 96 rows), tied and untied.
    for (const name of ['llama-tied-scaled-mlp', 'qwen2']) {
      test(`${name}, the LM head in three vocabulary chunks`, async () => {
        const dir = `test/fixtures/golden/${name}`;
        const r = await page().evaluate(([d, p]) => (window as any).harness.grad(`/${d}`, p, { headChunkRows: 33 }), [dir, provider] as const);
        expect(r.provider).toBe(provider);
        expect(r.headChunks).toEqual([[0, 33], [33, 66], [66, 96]]);
        const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8'));
        expect(Math.abs(r.loss - expected.loss) / expected.loss).toBeLessThan(1e-4);
        const ref = readSafetensors(new Uint8Array(readFileSync(`${dir}/grads.safetensors`)));
        expect(Object.keys(r.grads).sort()).toEqual([...ref.keys()].sort());
        for (const [key, t] of ref) expect(relErr(r.grads[key], t.data), key).toBeLessThan(1e-4);
      });
    }
    for (const name of S2_CASES) {
      test(`${name} (shifted sparse attention)`, async () => {
        const dir = `test/fixtures/golden-s2/${name}`;
        const json = (f: string) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
        const expected = json('expected.json');
        const source = json('source.json');
        const from = { model: `/${source.model}`, adapter: `/${source.adapter}`, group: expected.group, keep: existsSync(`${dir}/keep.json`) ? json('keep.json') : undefined };
        const r = await page().evaluate(([d, p, f]) => (window as any).harness.grad(`/${d}`, p, f), [dir, provider, from] as const);
        expect(r.provider).toBe(provider);
        expectKernels(r.kernelRuns, provider);
        expect(Math.abs(r.loss - expected.loss) / expected.loss).toBeLessThan(1e-4);
        const ref = readSafetensors(new Uint8Array(readFileSync(`${dir}/grads.safetensors`)));
        expect(Object.keys(r.grads).sort()).toEqual([...ref.keys()].sort());
        for (const [key, t] of ref) expect(relErr(r.grads[key], t.data), key).toBeLessThan(1e-4);
      });
    }
  });
}

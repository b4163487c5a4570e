// Real models' shapes in Chromium, in the engine's worker, against transformers + PEFT: the
// goldens of test/fixtures/golden-shapes (tools/golden/make_shape_golden.py), their bf16 weights
// generated in the page (test/helpers/shape-gen.ts) and loaded as dropped model folders are.
// WASM: every shape, dense (Node covers token elimination: test/golden-shapes.test.ts).
// WebGPU only when asked, e.g. E2E_WEBGPU_SHAPES=smollm2-135m: on SwiftShader (the CPU emulation
// here) one step of even the smallest shape, SmolLM2-135M's, takes about 50 CPU seconds, whatever
// the number of tokens (4 or 16), more than `npm test` can spend on it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, expect } from '@playwright/test';
import { sharedHarnessPage } from './helpers/harness-page';
import type { ShapeGolden } from '../test/helpers/shape-gen';

const ROOT = 'test/fixtures/golden-shapes';
const goldens = readdirSync(ROOT).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(join(ROOT, f), 'utf8')) as ShapeGolden);
const ON_WEBGPU = (process.env.E2E_WEBGPU_SHAPES ?? '').split(',').filter(Boolean);

for (const provider of ['wasm', 'webgpu'] as const) {
  test.describe(`real model shapes (generated bf16 weights) in a worker, ${provider}`, () => {
    // One page and one engine worker for the provider's shapes (e2e/harness.ts).
    const page = sharedHarnessPage();
    for (const g of goldens.filter((x) => (provider === 'wasm' ? !x.keep : ON_WEBGPU.includes(x.case)))) {
      test(`${g.case} (${g.upstream}'s shape${g.shards ? ', sharded' : ''}${g.keep ? ', tokens eliminated' : ''})`, async () => {
        const r = await page().evaluate(([golden, p]) => (window as any).harness.gradShape(golden, p), [g, provider] as const);
        expect(r.differs, 'the TypeScript generator differs from tools/golden/make_shape_golden.py').toEqual([]);
        expect(r.provider).toBe(provider);
        if (provider === 'webgpu') expect(r.kernelRuns.attn_fwd).toBeGreaterThan(0);
        expect(r.missing).toEqual([]);
        expect(r.loss).toBeLessThan(1e-4);
        for (const [name, err] of Object.entries(r.tensors)) expect(err, name).toBeLessThan(1e-4);
        if (r.rope !== null) expect(r.rope, 'the loss tells the RoPE scaling apart').toBeLessThan(0.1);
        console.log(`${provider} ${g.case}: loss rel. err ${r.loss.toExponential(2)}, worst gradient rel. err ${r.worst.toExponential(2)}`);
      });
    }
  });
}

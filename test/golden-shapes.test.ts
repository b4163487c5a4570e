// Real models' shapes against transformers + PEFT: one layer of SmolLM2-135M, SmolLM2-360M,
// Qwen2.5-0.5B, Qwen2.5-1.5B (sharded, with model.safetensors.index.json) and Llama-3.2-1B (llama3
// RoPE, 128,256 tokens), each with its real config.json and bf16 weights generated at test time
// (test/helpers/shape-gen.ts, the generator of tools/golden/make_shape_golden.py, which made the
// goldens), written to a model folder and loaded as any other; loss and LoRA gradients at 1e-4.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readAdapterDir, readModelDir } from '../src/cli/files';
import { readSafetensors } from '../src/engine/model/safetensors';
import { EngineSession } from '../src/engine/session';
import { compareShapeGrads, shapeFiles, type ShapeGolden } from './helpers/shape-gen';
import { nodeRuntime } from './helpers/runtime';

const ROOT = 'test/fixtures/golden-shapes';
const goldens = readdirSync(ROOT).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(join(ROOT, f), 'utf8')) as ShapeGolden);
const dir = mkdtempSync(join(tmpdir(), 'lemo-shapes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The case's model folder, adapter folder, tokens (and keep list) on disk, once its generator is known to make the golden's bytes. */
function writeCase(g: ShapeGolden) {
  const f = shapeFiles(g);
  expect(f.differs, 'the TypeScript generator differs from tools/golden/make_shape_golden.py').toEqual([]);
  const d = join(dir, g.case);
  const [model, adapter] = [join(d, 'model'), join(d, 'adapter')];
  mkdirSync(model, { recursive: true });
  mkdirSync(adapter, { recursive: true });
  writeFileSync(join(model, 'config.json'), JSON.stringify(g.config));
  for (const w of f.weights) writeFileSync(join(model, w.name), w.bytes);
  if (f.index) writeFileSync(join(model, 'model.safetensors.index.json'), JSON.stringify(f.index));
  writeFileSync(join(adapter, 'adapter_config.json'), JSON.stringify(f.adapter.config));
  writeFileSync(join(adapter, 'adapter_model.safetensors'), f.adapter.weights);
  writeFileSync(join(d, 'tokens.json'), JSON.stringify({ input_ids: g.input_ids }));
  if (g.keep) writeFileSync(join(d, 'keep.json'), JSON.stringify(g.keep));
  return { d, model, adapter };
}

function expectClose(g: ShapeGolden, loss: number, grads: Record<string, Float32Array>) {
  const r = compareShapeGrads(g, loss, grads);
  expect(r.missing).toEqual([]);
  expect(r.loss).toBeLessThan(1e-4);
  for (const [name, err] of Object.entries(r.tensors)) expect(err, name).toBeLessThan(1e-4);
  return r;
}

/** Llama-3.2-1B's shape and the token-eliminating case run through `lemo grad` itself; the others through the engine session it uses. */
const THROUGH_CLI = new Set(['llama-3.2-1b', 'smollm2-135m-sparse']);

describe('real model shapes (generated bf16 weights) match transformers + PEFT (rel. error ≤ 1e-4)', () => {
  it('has every shape, one of them sharded and one eliminating tokens', () => {
    expect(goldens.map((g) => g.case)).toEqual(expect.arrayContaining(['smollm2-135m', 'smollm2-360m', 'qwen2.5-0.5b', 'qwen2.5-1.5b', 'llama-3.2-1b']));
    expect(goldens.some((g) => g.shards)).toBe(true);
    expect(goldens.some((g) => g.keep)).toBe(true);
  });

  for (const g of goldens.filter((x) => !THROUGH_CLI.has(x.case))) {
    it(`${g.case} (${g.upstream}'s shape${g.shards ? ', sharded' : ''})`, async () => {
      const { d, model, adapter } = writeCase(g);
      const session = new EngineSession(await nodeRuntime('node'), () => {});
      try {
        const files = readModelDir(model);
        if (g.shards) expect(Array.isArray(files.weights) && files.weights.map((w) => w.name)).toEqual(g.shards.map(([file]) => file));
        session.loadModel(files);
        const r = await session.grad(g.input_ids, readAdapterDir(adapter));
        expectClose(g, r.loss, r.grads);
      } finally {
        rmSync(d, { recursive: true, force: true });
      }
    });
  }

  for (const g of goldens.filter((x) => THROUGH_CLI.has(x.case))) {
    it(`lemo grad: ${g.case} (${g.upstream}'s shape${g.keep ? ', tokens eliminated' : ''})`, () => {
      const { d, model, adapter } = writeCase(g);
      try {
        const out = join(d, 'grads.safetensors');
        const keep = g.keep ? ['--keep', join(d, 'keep.json')] : [];
        const r = spawnSync(process.execPath, ['bin/lemo.js', 'grad', '--model', model, '--adapter', adapter, '--tokens', join(d, 'tokens.json'), ...keep, '--out', out], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        const { loss, kept } = JSON.parse(r.stdout);
        if (g.keep) expect(kept).toBeTruthy();
        const grads = Object.fromEntries([...readSafetensors(new Uint8Array(readFileSync(out)))].map(([k, t]) => [k, t.data]));
        expectClose(g, loss, grads);
        // With tokens eliminated, the loss is not the dense one.
        if (g.keep) expect(Math.abs(loss - g.dense_loss) / g.dense_loss).toBeGreaterThan(1e-4);
      } finally {
        rmSync(d, { recursive: true, force: true });
      }
    });
  }
});

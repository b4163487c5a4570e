// The engine against transformers + PEFT: loss and every LoRA gradient of each golden fixture
// (made by tools/golden/make_golden.py), in Node with onnxruntime-web's WASM provider.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFixture } from './helpers/fixtures';
import { Trainer } from '../src/engine/train/trainer';
import { nodeRuntime, relErr } from './helpers/runtime';

const ROOT = 'test/fixtures/golden';
const CASES = readdirSync(ROOT).filter((d) => existsSync(join(ROOT, d, 'grads.safetensors')));

describe.each(['wasm', 'node'] as const)('loss and LoRA gradients match transformers + PEFT (float32, rel. error ≤ 1e-4), onnxruntime-%s', (backend) => {
  it('has fixtures for both families', () => {
    expect(CASES).toEqual(expect.arrayContaining(['llama-gqa', 'gpt2', 'qwen2', 'llama-tied-scaled-mlp', 'gpt2-mlp']));
  });

  // Whole sequences in one segment, and cut into attention segments of 5 query rows and
  // LM-head segments of 7 rows (the long-context path).
  for (const [name, segments] of CASES.flatMap((c) => [[c, false], [c, true]] as const)) {
    it(`${name}${segments ? ', segmented' : ''}`, async () => {
      const f = readFixture(join(ROOT, name));
      const rt = await nodeRuntime(backend);
      const trainer = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter, ...(segments ? { segmentRows: 5, headRows: 7 } : {}) });
      const { loss, grads } = await trainer.lossAndGrads(f.ids);
      expect(Math.abs(loss - f.expected.loss) / Math.abs(f.expected.loss)).toBeLessThan(1e-4);
      expect([...grads.keys()].sort()).toEqual([...f.grads.keys()].sort());
      for (const [key, ref] of f.grads) {
        const ours = (await rt.read(grads.get(key)!)) as Float32Array;
        expect(relErr(ours, ref.data), key).toBeLessThan(1e-4);
      }
    });
  }

  // The RoPE scaling each of these fixtures tests changes its loss: read as plain RoPE, the loss is off.
  for (const [name, kind] of [['llama3-rope', 'llama3'], ['llama-yarn', 'yarn']] as const) {
    it(`${name}: its ${kind} RoPE scaling matters there (read as plain RoPE, the loss is off)`, async () => {
      const f = readFixture(join(ROOT, name));
      const rope = f.model.config.rope!;
      expect(rope[kind]).toBeDefined();
      const rt = await nodeRuntime(backend);
      f.model.config.rope = { theta: rope.theta, linearFactor: 1 };
      const trainer = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
      const { loss } = await trainer.lossAndGrads(f.ids);
      expect(Math.abs(loss - f.expected.loss) / f.expected.loss).toBeGreaterThan(1e-3);
    });
  }

  it('reads bf16 weights (llama-gqa/model-bf16) and reproduces the loss computed from them', async () => {
    const f = readFixture(join(ROOT, 'llama-gqa'), join(ROOT, 'llama-gqa', 'model-bf16'));
    const rt = await nodeRuntime(backend);
    const trainer = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
    const { loss } = await trainer.lossAndGrads(f.ids);
    expect(f.expected.loss_bf16_weights).toBeDefined();
    expect(Math.abs(loss - f.expected.loss_bf16_weights!) / f.expected.loss_bf16_weights!).toBeLessThan(1e-4);
    // bf16 rounding moves the loss measurably, so this is a different check from the f32 one.
    expect(loss).not.toBeCloseTo(f.expected.loss, 6);
  });
});

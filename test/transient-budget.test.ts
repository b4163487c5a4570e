// The runtime's transient budget sets how long attention and LM-head segments are: a larger
// budget gives fewer session runs per step and the same loss and gradients.
import { describe, expect, it } from 'vitest';
import { Runtime, WEBGPU_TRANSIENT_BUDGET } from '../src/engine/runtime/runtime';
import { loadOrtForNode } from '../src/engine/runtime/ort-node';
import { Trainer } from '../src/engine/train/trainer';
import { loadModel } from '../src/engine/model/model';
import { loraConfig } from '../src/engine/model/lora';
import { readModelDir } from '../src/cli/files';
import { relErr } from './helpers/runtime';

const T = 1024;

async function pass(transientBudget?: number) {
  const { ort, provider } = await loadOrtForNode(1, 'node');
  const rt = new Runtime(ort, { provider, threads: 1, transientBudget });
  const model = loadModel(readModelDir('public/models/lemo-tiny'));
  const trainer = await Trainer.create(rt, model, loraConfig(8, 16, ['q_proj', 'k_proj', 'v_proj', 'o_proj']), { seed: 3 });
  const runs = new Map<string, number>();
  rt.onSample = (s) => runs.set(s.phase, (runs.get(s.phase) ?? 0) + 1);
  const ids = [Array.from({ length: T }, (_, i) => (i * 37 + 11) % model.config.vocabSize)];
  const { loss, grads } = await trainer.lossAndGrads(ids);
  const out = new Map<string, Float32Array>();
  for (const [k, g] of grads) out.set(k, Float32Array.from((await rt.read(g)) as Float32Array));
  const segmentRuns = [...runs].filter(([name]) => name.startsWith('llama_segment')).reduce((a, [, n]) => a + n, 0);
  return { loss, grads: out, segmentRuns, headRuns: [...runs].filter(([n]) => n.startsWith('llama_head')).reduce((a, [, n]) => a + n, 0) };
}

describe('transient budget', () => {
  it('cuts a 1024-token step into fewer segment runs under a larger budget, with the same loss and gradients', async () => {
    const base = await pass();
    const large = await pass(256 * 2 ** 20);
    // 16 MiB: 256-row attention segments (4 per layer) and 512-row head segments (2); 256 MiB: one each.
    expect(large.segmentRuns).toBeLessThan(base.segmentRuns);
    expect(large.headRuns).toBeLessThan(base.headRuns);
    expect(Math.abs(large.loss - base.loss) / base.loss).toBeLessThan(1e-5);
    expect([...large.grads.keys()].sort()).toEqual([...base.grads.keys()].sort());
    for (const [k, g] of base.grads) expect(relErr(large.grads.get(k)!, g), k).toBeLessThan(1e-4);
  });

  it('defaults to 128 MiB under WebGPU (no larger tensor than its default storage binding) and to the trainer\'s own elsewhere', async () => {
    const { ort } = await loadOrtForNode(1, 'wasm');
    expect(new Runtime(ort, { provider: 'webgpu' }).transientBudget).toBe(WEBGPU_TRANSIENT_BUDGET);
    expect(WEBGPU_TRANSIENT_BUDGET).toBe(128 * 2 ** 20);
    expect(new Runtime(ort, { provider: 'wasm' }).transientBudget).toBeUndefined();
    expect(new Runtime(ort, { provider: 'webgpu', transientBudget: 2 ** 24 }).transientBudget).toBe(2 ** 24);
  });
});

import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { adamwGraph, ADAMW_DEFAULTS } from '../src/engine/train/adamw';
import { Trainer } from '../src/engine/train/trainer';
import { perplexity } from '../src/engine/run/evaluate';
import { windows, WindowSampler, parseDataset } from '../src/engine/train/data';
import { nodeRuntime, randn, relErr, rng } from './helpers/runtime';
import { readFixture } from './helpers/fixtures';

describe('AdamW graph', () => {
  it("matches torch.optim.AdamW's update rule over three steps", async () => {
    const rt = await nodeRuntime();
    const r = rng(7);
    const shape = [3, 5];
    const n = 15;
    const s = { lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, wd: 0.1 };
    let p: Float32Array = Float32Array.from(randn(r, n));
    let m: Float32Array = new Float32Array(n);
    let v: Float32Array = new Float32Array(n);
    const ref = { p: Float64Array.from(p), m: new Float64Array(n), v: new Float64Array(n) };
    for (let t = 1; t <= 3; t++) {
      const g = Float32Array.from(randn(r, n));
      const scalar = (x: number) => rt.tensor('float32', Float32Array.of(x), []);
      const out = await rt.run(adamwGraph(), {
        p: rt.tensor('float32', p, shape), g: rt.tensor('float32', g, shape), m: rt.tensor('float32', m, shape), v: rt.tensor('float32', v, shape),
        lr: scalar(s.lr), beta1: scalar(s.beta1), beta2: scalar(s.beta2), eps: scalar(s.eps), wd: scalar(s.wd),
        bc1: scalar(1 - s.beta1 ** t), bc2: scalar(1 - s.beta2 ** t),
      });
      p = (await rt.read(out.p_new)) as Float32Array;
      m = (await rt.read(out.m_new)) as Float32Array;
      v = (await rt.read(out.v_new)) as Float32Array;
      for (let i = 0; i < n; i++) {
        ref.p[i] *= 1 - s.lr * s.wd;
        ref.m[i] = s.beta1 * ref.m[i] + (1 - s.beta1) * g[i];
        ref.v[i] = s.beta2 * ref.v[i] + (1 - s.beta2) * g[i] * g[i];
        const mh = ref.m[i] / (1 - s.beta1 ** t);
        const vh = ref.v[i] / (1 - s.beta2 ** t);
        ref.p[i] -= (s.lr * mh) / (Math.sqrt(vh) + s.eps);
      }
    }
    expect(relErr(p, ref.p)).toBeLessThan(1e-6);
    expect(relErr(v, ref.v)).toBeLessThan(1e-6);
  });
});

describe('training', () => {
  it('fits a fixed batch: the loss falls below half its start in 30 steps', async () => {
    const rt = await nodeRuntime();
    const f = readFixture(join('test/fixtures/golden', 'llama-gqa'));
    const trainer = await Trainer.create(rt, f.model, { ...f.lora, scale: f.lora.scale }, { optimizer: { ...ADAMW_DEFAULTS, lr: 0.02 } });
    const first = (await trainer.step(f.ids)).loss;
    let last = first;
    for (let i = 0; i < 29; i++) last = (await trainer.step(f.ids)).loss;
    expect(first).toBeGreaterThan(3);
    expect(last).toBeLessThan(first / 2);
    expect(trainer.steps).toBe(30);
  });

  it('reuses one session per graph for every layer and every sequence length', async () => {
    const rt = await nodeRuntime();
    const f = readFixture(join('test/fixtures/golden', 'llama-tied-scaled-mlp'));
    const trainer = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
    await trainer.lossAndGrads(f.ids);
    const sessions = rt.sessionCount;
    await trainer.lossAndGrads(f.ids.map((s) => s.slice(0, 7)));
    await trainer.lossAndGrads([f.ids[0].slice(0, 13)]);
    expect(rt.sessionCount).toBe(sessions);
  });

  it('evaluation sums the same negative log-likelihood as the training loss', async () => {
    const rt = await nodeRuntime();
    const f = readFixture(join('test/fixtures/golden', 'gpt2'));
    const trainer = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
    const ev = await perplexity(trainer, f.ids, 1000);
    expect(ev.tokens).toBe(f.ids.length * (f.ids[0].length - 1));
    expect(Math.abs(ev.loss - f.expected.loss) / f.expected.loss).toBeLessThan(1e-5);
    // Chunking at 5 tokens predicts fewer tokens (none across chunk borders).
    const chunked = await perplexity(trainer, f.ids, 5);
    let predicted = 0;
    for (let s = 0; s < f.ids[0].length; s += 5) predicted += Math.max(Math.min(5, f.ids[0].length - s) - 1, 0);
    expect(chunked.tokens).toBe(f.ids.length * predicted);
    expect(chunked.tokens).toBeLessThan(ev.tokens);
  });
});

describe('data', () => {
  it('cuts documents into full windows and keeps a long tail as the last window', () => {
    const doc = Array.from({ length: 25 }, (_, i) => i);
    const w = windows([doc, [1, 2, 3]], 10);
    expect(w.map((x) => x[0])).toEqual([0, 10, 15]);
    expect(w.every((x) => x.length === 10)).toBe(true);
  });

  it('visits every window once per epoch in a seeded order', () => {
    const all = Array.from({ length: 7 }, (_, i) => [i, i]);
    const a = new WindowSampler(all, 3);
    const firstEpoch = Array.from({ length: 7 }, () => a.next(1)[0][0]).sort();
    expect(firstEpoch).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const b = new WindowSampler(all, 3);
    const c = new WindowSampler(all, 4);
    const seq = (s: WindowSampler) => Array.from({ length: 7 }, () => s.next(1)[0][0]).join();
    expect(seq(b)).toBe(seq(new WindowSampler(all, 3)));
    expect(seq(b)).not.toBe(seq(c));
  });

  it('reads JSONL text fields and says which line is wrong', () => {
    expect(parseDataset('d.jsonl', '{"text":"a"}\n\n{"text":"b"}\n').map((d) => d.text)).toEqual(['a', 'b']);
    expect(() => parseDataset('d.jsonl', '{"text":"a"}\n{"body":"b"}')).toThrow(/d\.jsonl, line 2: no "text" field/);
    expect(() => parseDataset('d.jsonl', '{"text":"a"}\n{oops')).toThrow(/line 2: not valid JSON/);
    expect(() => parseDataset('e.txt', '  \n')).toThrow(/e\.txt is empty/);
  });
});

describe('memory accountant', () => {
  it('accounts weights, adapter, optimizer state and saved activations, and frees every activation after the step', async () => {
    const { Runtime } = await import('../src/engine/runtime/runtime');
    const { loadOrtForNode } = await import('../src/engine/runtime/ort-node');
    const { ort, provider } = await loadOrtForNode(1, 'wasm');
    const rt = new Runtime(ort, { provider });
    const f = readFixture(join('test/fixtures/golden', 'llama-gqa'));
    const trainer = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
    const m = rt.memory;
    const weightFloats = f.model.layers.reduce((a, l) => a + [...l.values()].reduce((b, t) => b + t.data.length, 0), 0)
      + f.model.embed.data.length + f.model.lmHead.data.length + [...f.model.finalNorm.values()].reduce((a, t) => a + t.data.length, 0);
    expect(m.live.weights).toBe(weightFloats * 4);
    const adapterBytes = [...f.adapter.values()].reduce((a, t) => a + t.data.length * 4, 0);
    expect(m.live.adapter).toBe(adapterBytes);
    const samples: number[] = [];
    rt.onSample = (s) => samples.push(s.bytes.activations);
    await trainer.step(f.ids);
    expect(m.live.optimizer).toBe(2 * adapterBytes);
    expect(m.live.gradients).toBe(0);
    expect(m.peak.gradients).toBe(adapterBytes);
    // Saved activations grow through the forward and are all gone after the step (the
    // length tables for this length stay).
    expect(Math.max(...samples)).toBeGreaterThan(samples[0]);
    expect(m.live.activations).toBe(0);
    expect(m.peak.activations).toBeGreaterThan(0);
    expect(m.peak.transient).toBeGreaterThan(0);
    expect(m.live.transient).toBe(0);
  });
});

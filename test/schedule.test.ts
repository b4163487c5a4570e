// The learning-rate schedule and weight decay: the multipliers transformers' schedulers give, and
// one AdamW step of the trainer against the update written out on the host.
import { describe, expect, it } from 'vitest';
import { Trainer } from '../src/engine/train/trainer';
import { ADAMW_DEFAULTS, checkSchedule, scheduleFactor } from '../src/engine/train/adamw';
import { nodeRuntime, rng } from './helpers/runtime';
import { readFixture } from './helpers/fixtures';

describe('the learning-rate schedule', () => {
  it("gives transformers' multipliers, step by step", () => {
    // python: get_cosine_schedule_with_warmup(opt, 2, 10) / (opt, 0, 5) and get_constant_schedule_with_warmup(opt, 4),
    // read before each optimizer step (transformers 5.18).
    const cosine = [0.0, 0.5, 1.0, 0.9619397662556434, 0.8535533905932737, 0.6913417161825449, 0.5, 0.30865828381745514, 0.14644660940672627, 0.03806023374435663];
    cosine.forEach((x, i) => expect(scheduleFactor('cosine', 2, 10, i + 1)).toBeCloseTo(x, 12));
    [1.0, 0.9045084971874737, 0.6545084971874737, 0.34549150281252633, 0.09549150281252633].forEach((x, i) => expect(scheduleFactor('cosine', 0, 5, i + 1)).toBeCloseTo(x, 12));
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0].forEach((x, i) => expect(scheduleFactor('constant', 4, 6, i + 1)).toBeCloseTo(x, 12));
    expect(scheduleFactor('constant', 0, 6, 1)).toBe(1);
  });

  it('refuses a warm-up as long as the run and a weight decay outside [0, 1)', () => {
    expect(() => checkSchedule({ warmup: 5, weightDecay: 0, steps: 5 })).toThrow('A warm-up of 5 steps leaves nothing of a 5-step run at the full learning rate; use fewer warm-up steps (--warmup).');
    expect(() => checkSchedule({ warmup: 1.5, weightDecay: 0, steps: 5 })).toThrow(/whole number of steps/);
    expect(() => checkSchedule({ warmup: 0, weightDecay: -0.1, steps: 5 })).toThrow(/must be in \[0, 1\), got -0.1/);
    expect(() => checkSchedule({ warmup: 2, weightDecay: 0.01, steps: 5 })).not.toThrow();
  });

  it('one AdamW step with weight decay at a scheduled rate is the update written out', async () => {
    const rt = await nodeRuntime();
    const f = readFixture('test/fixtures/golden/llama-gqa');
    const r = rng(2);
    const ids = [Array.from({ length: 24 }, () => Math.floor(r() * f.model.config.vocabSize))];
    const opt = { ...ADAMW_DEFAULTS, lr: 0.01, weightDecay: 0.1 };
    const probe = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter, optimizer: opt });
    const before = await probe.exportState();
    const { grads } = await probe.lossAndGrads(ids);
    const g = new Map<string, Float32Array>();
    for (const [k, t] of grads) g.set(k, Float32Array.from((await rt.read(t)) as Float32Array));
    probe.dispose();
    const trainer = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter, optimizer: opt, schedule: (step) => (step === 1 ? 0.25 : 1) });
    await trainer.step(ids);
    const after = await trainer.exportState();
    const lr = opt.lr * 0.25;
    // Step 1: m̂ = g, v̂ = g², so the update is rate · g / (|g| + eps), after the decay; errors in units of the rate.
    const worstAt = (rate: number) => {
      let worst = 0;
      for (const p of before.params) {
        const grad = g.get(p.peft)!;
        const got = after.params.find((q) => q.peft === p.peft)!.value;
        p.value.forEach((x, i) => {
          const want = x * (1 - rate * opt.weightDecay) - (rate * grad[i]) / (Math.abs(grad[i]) + opt.eps);
          worst = Math.max(worst, Math.abs(got[i] - want) / lr);
        });
      }
      return worst;
    };
    expect(worstAt(lr)).toBeLessThan(1e-3);
    expect(worstAt(opt.lr)).toBeGreaterThan(0.5);
    trainer.dispose();
  });
});

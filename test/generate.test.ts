// Generation with a KV cache: the log-probabilities it gives each next token, fed the sequence
// itself, are the training forward's (its negative log-likelihood), for each family; sampling
// is greedy at temperature 0, seeded otherwise, and ends where asked.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Trainer } from '../src/engine/train/trainer';
import { decode, generate, pickToken } from '../src/engine/run/generate';
import { nodeRuntime, rng } from './helpers/runtime';
import { readFixture } from './helpers/fixtures';

const logSoftmaxAt = (logits: Float32Array, id: number) => {
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l);
  let s = 0;
  for (const l of logits) s += Math.exp(l - max);
  return logits[id] - max - Math.log(s);
};

describe('generation with a KV cache', () => {
  for (const name of ['llama-gqa', 'qwen2', 'gpt2']) {
    it(`gives the training forward's log-probabilities, prompt of 1 and of 7 tokens: ${name}`, async () => {
      const rt = await nodeRuntime();
      const f = readFixture(`test/fixtures/golden/${name}`);
      const trainer = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
      const r = rng(3);
      const ids = Array.from({ length: 18 }, () => Math.floor(r() * f.model.config.vocabSize));
      const { nll } = await trainer.nll([ids]);
      for (const promptLength of [1, 7]) {
        let t = promptLength;
        let sum = 0;
        const added = await decode(trainer, ids.slice(0, promptLength), (logits) => {
          sum -= logSoftmaxAt(logits, ids[t]);
          return ++t < ids.length ? ids[t - 1] : null;
        }, ids.length);
        expect(added).toEqual(ids.slice(promptLength, ids.length - 1));
        // The forward's NLL counts every prediction; the prompt's own predictions are not decoded.
        let prefix = 0;
        if (promptLength > 1) prefix = (await trainer.nll([ids.slice(0, promptLength)])).nll;
        expect(Math.abs(sum + prefix - nll) / nll).toBeLessThan(1e-4);
      }
      trainer.dispose();
    });
  }

  it('greedy takes the most likely token; top-p draws are seeded and stay in the nucleus; stop ids and the token limit end it', async () => {
    const logits = Float32Array.of(0.1, 3, -1, 2.9, 0);
    expect(pickToken(logits, { temperature: 0, topP: 1 }, Math.random)).toBe(1);
    expect(pickToken(logits, { temperature: 1, topP: 1e-6 }, Math.random)).toBe(1);
    const draws = (seed: number) => { const rr = rng(seed); return Array.from({ length: 200 }, () => pickToken(logits, { temperature: 1, topP: 0.8 }, rr)); };
    expect(draws(1)).toEqual(draws(1));
    expect(new Set(draws(1))).toEqual(new Set([1, 3]));
    const rt = await nodeRuntime();
    const f = readFixture('test/fixtures/golden/llama-gqa');
    const trainer = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
    const plan = { maxTokens: 6, temperature: 0.8, topP: 0.9, seed: 5, stop: [] as number[] };
    const a = await generate(trainer, [1, 2, 3], plan);
    expect(a).toHaveLength(6);
    expect(await generate(trainer, [1, 2, 3], plan)).toEqual(a);
    expect(await generate(trainer, [1, 2, 3], { ...plan, stop: [a[2]] })).toEqual(a.slice(0, a.indexOf(a[2]) + 1));
    let heard = 0;
    expect(await generate(trainer, [1, 2, 3], plan, () => ++heard < 2)).toEqual(a.slice(0, 2));
    await expect(generate(trainer, [], plan)).rejects.toThrow(/prompt is empty/);
    trainer.dispose();
  });
});

describe('lemo generate', () => {
  it('continues a prompt with the model, greedy, the same twice; a prompt past the context is refused with a sentence', () => {
    const lemo = (args: string[]) => spawnSync(process.execPath, ['bin/lemo.js', 'generate', '--model', 'public/models/lemo-tiny', ...args], { encoding: 'utf8' });
    const a = lemo(['--prompt', 'It was a dark and stormy night', '--max-tokens', '12', '--temperature', '0']);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout.startsWith('It was a dark and stormy night')).toBe(true);
    expect(a.stdout.length).toBeGreaterThan('It was a dark and stormy night'.length + 5);
    expect(lemo(['--prompt', 'It was a dark and stormy night', '--max-tokens', '12', '--temperature', '0']).stdout).toBe(a.stdout);
    const long = lemo(['--prompt', 'word '.repeat(3000), '--max-tokens', '2']);
    expect(long.status).toBe(2);
    expect(long.stderr).toMatch(/^lemo: The prompt has \d+ tokens; this model reaches 1024 positions, so shorten it\./m);
  });
});

// What each step reports beside its loss: the learning rate the update used (after the schedule)
// and the global L2 norm of the LoRA gradients before the update.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Trainer } from '../src/engine/train/trainer';
import { ADAMW_DEFAULTS, scheduleFactor } from '../src/engine/train/adamw';
import { gradients } from '../src/engine/run/gradients';
import { DENSE } from '../src/engine/train/selection';
import { DEFAULT_SETTINGS, EngineSession, type TrainSettings } from '../src/engine/session';
import type { EngineEvent, StepEvent } from '../src/engine/events';
import { decodeDataset, parseDataset } from '../src/engine/train/data';
import { readJson, readModelDir } from '../src/cli/files';
import { nodeRuntime, rng } from './helpers/runtime';
import { readFixture } from './helpers/fixtures';

describe('the step metrics', () => {
  it("report the scheduled rate and the gradients' global norm, step by step", async () => {
    const rt = await nodeRuntime();
    const f = readFixture('test/fixtures/golden/llama-gqa');
    const r = rng(5);
    const ids = [Array.from({ length: 24 }, () => Math.floor(r() * f.model.config.vocabSize))];
    const opt = { ...ADAMW_DEFAULTS, lr: 0.01 };
    const schedule = (step: number) => scheduleFactor('cosine', 1, 4, step);
    const trainer = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter, optimizer: opt, schedule });
    const norms: number[] = [];
    for (let step = 1; step <= 3; step++) {
      // The gradients module's gradients of the same batch at the same adapter, read back.
      const g = await gradients(trainer, ids, DENSE);
      const want = Math.sqrt(Object.values(g.grads).reduce((a, x) => a + x.reduce((b, y) => b + y * y, 0), 0));
      const got = await trainer.step(ids);
      expect(got.gradNorm / want).toBeCloseTo(1, 5);
      expect(got.lr).toBeCloseTo(opt.lr * schedule(step), 12);
      norms.push(got.gradNorm);
    }
    // Warm-up: the first step's rate is 0, so the second sees the same adapter and gradients.
    expect(norms[0]).toBeGreaterThan(0);
    expect(norms[1]).toBeCloseTo(norms[0], 5);
    expect(norms[2]).not.toBeCloseTo(norms[1], 5);
    trainer.dispose();
  });

  it("are in every step event of a run", async () => {
    const MODEL = 'public/models/lemo-tiny';
    const events: EngineEvent[] = [];
    const s = new EngineSession(await nodeRuntime(), (e) => events.push(e));
    s.loadModel({ ...readModelDir(MODEL), tokenizer: readJson(join(MODEL, 'tokenizer.json'), 'tokenizer.json'), tokenizerConfig: readJson(join(MODEL, 'tokenizer_config.json'), 'tokenizer_config.json') });
    const docs = parseDataset('train.jsonl.gz', decodeDataset('train.jsonl.gz', readFileSync('public/data/books-short/train.jsonl.gz'))).slice(0, 2);
    const settings: TrainSettings = { ...DEFAULT_SETTINGS, sparsity: 'dense', ctx: 64, steps: 3, lr: 2e-3, schedule: 'cosine', warmup: 1, checkpointEvery: 0 };
    await s.train(docs, settings);
    const steps = events.filter((e): e is StepEvent => e.type === 'step');
    expect(steps.map((e) => e.step)).toEqual([1, 2, 3]);
    steps.forEach((e) => expect(e.lr).toBeCloseTo(settings.lr * scheduleFactor('cosine', 1, 3, e.step), 12));
    expect(steps[0].lr).toBe(0);
    steps.forEach((e) => expect(e.gradNorm).toBeGreaterThan(0));
  });

  it('are on each step line lemo train prints', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lemo-step-metrics-'));
    const data = join(dir, 'data.txt');
    writeFileSync(data, 'The keeper climbed the stairs of the lighthouse every evening and lit the lamp. '.repeat(30));
    const r = spawnSync(process.execPath, ['bin/lemo.js', 'train', '--model', 'public/models/lemo-tiny', '--data', data, '--sparsity', 'dense', '--ctx', '64', '--steps', '3',
      '--lr', '0.002', '--schedule', 'cosine', '--warmup', '1', '--backend', 'wasm', '--out', join(dir, 'out')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const lines = [...r.stderr.matchAll(/^step (\d)\/3 .* lr (\S+)  grad norm (\S+) /gm)];
    expect(lines.map((m) => Number(m[1]))).toEqual([1, 2, 3]);
    lines.forEach((m) => expect(Number(m[2])).toBeCloseTo(0.002 * scheduleFactor('cosine', 1, 3, Number(m[1])), 9));
    lines.forEach((m) => expect(Number(m[3])).toBeGreaterThan(0));
  });
});

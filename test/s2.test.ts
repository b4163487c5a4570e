// Shifted sparse attention (LongLoRA's S²-Attn) while training, alone and with token elimination,
// against the PyTorch reference of tools/golden/make_s2_golden.py.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Trainer } from '../src/engine/train/trainer';
import { selectorFor, sparsityOf } from '../src/engine/sparsity/selectors';
import { parseKeepSpec } from '../src/engine/sparsity/blocks';
import { Segments, shiftedGroups } from '../src/engine/train/segments';
import { attentionGroup, DEFAULT_SETTINGS } from '../src/engine/settings';
import { nodeRuntime, relErr } from './helpers/runtime';
import { readFixture } from './helpers/fixtures';
import { readSafetensors } from '../src/engine/model/safetensors';
import { readCheckpointDir } from '../src/cli/checkpoint-dir';

const S2 = 'test/fixtures/golden-s2';
const cases = existsSync(S2) ? readdirSync(S2).filter((d) => existsSync(join(S2, d, 'grads.safetensors'))) : [];

function fixture(name: string) {
  const dir = join(S2, name);
  const source = JSON.parse(readFileSync(join(dir, 'source.json'), 'utf8'));
  const f = readFixture(dir, source.model, source.adapter);
  const group = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')).group as number;
  const keep = existsSync(join(dir, 'keep.json')) ? JSON.parse(readFileSync(join(dir, 'keep.json'), 'utf8')) : null;
  const layers = f.model.config.layers;
  const selector = selectorFor(keep ? { mode: 'keep', spec: parseKeepSpec(keep, layers, f.ids[0].length), group } : { mode: 'dense', group }, layers);
  return { ...f, group, keep, selector };
}

describe('shifted sparse attention', () => {
  it('has the independent references, with and without token elimination', () => {
    expect(cases).toEqual(expect.arrayContaining(['llama-gqa-s2', 'llama-gqa-s2-sparse']));
  });

  for (const name of cases) {
    for (const segmented of [false, true]) {
      it(`matches the PyTorch reference of S²-Attn: ${name}${segmented ? ', segmented' : ''}`, async () => {
        const f = fixture(name);
        const rt = await nodeRuntime();
        const t = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter, ...(segmented ? { segmentRows: 5, headRows: 9 } : {}) });
        const r = await t.lossAndGrads(f.ids, f.selector);
        expect(Math.abs(r.loss - f.expected.loss) / f.expected.loss).toBeLessThan(1e-4);
        for (const [k, ref] of f.grads) expect(relErr((await rt.read(r.grads.get(k)!)) as Float32Array, ref.data), k).toBeLessThan(1e-4);
      });
    }
  }

  it('groups by original position, the second half of the heads shifted by half a group, nothing wrapping around', () => {
    expect(Array.from(shiftedGroups([0, 1, 3, 4, 5, 7, 8, 11], 2, 4))).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 0, 0, 1, 1, 1, 2, 2, 3]);
  });

  it('starts a query segment\'s keys at the first group one of its queries can see', async () => {
    const rt = await nodeRuntime();
    const f = fixture('llama-gqa-s2');
    const segments = new Segments(rt, f.model.config, { segmentRows: 4 });
    const rows = [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 26];
    const keys = async (start: number, group: number | null) => Array.from((await rt.read(segments.feeds(rows, start, start + 4, group).kpos)) as Float32Array);
    // Queries at 21..24: unshifted groups [16, 24) and [24, 32), shifted [20, 28): keys from 16.
    expect(await keys(14, 8)).toEqual([16, 20, 21, 22, 23, 24]);
    // Queries at 13..16: unshifted [8, 16) and [16, 24), shifted [12, 20): keys from 8.
    expect(await keys(9, 8)).toEqual([8, 9, 10, 11, 12, 13, 14, 15, 16]);
    expect((await keys(14, null)).length).toBe(18);
    expect((await keys(1, 8))[0]).toBe(0);
  });

  it('leaves evaluation at full attention', async () => {
    const f = fixture('llama-gqa-s2');
    const rt = await nodeRuntime();
    const t = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
    const s2 = await t.nll(f.ids, f.selector);
    const full = await t.nll(f.ids);
    expect(s2.nll).toBe(full.nll);
    const fullLoss = JSON.parse(readFileSync(join(S2, 'llama-gqa-s2', 'expected.json'), 'utf8')).full_attention_loss;
    expect(Math.abs(s2.nll / s2.tokens - fullLoss) / fullLoss).toBeLessThan(1e-4);
  });

  it('refuses a group that is odd, longer than the window or does not divide it', async () => {
    const s2 = (group: number | null) => ({ attention: 's2' as const, group });
    expect(attentionGroup({ attention: 'full', group: 7 }, 64)).toBeNull();
    expect(attentionGroup(s2(null), 64)).toBe(16);
    expect(() => attentionGroup(s2(6.5), 64)).toThrow(/positive even number of tokens, got 6.5/);
    expect(() => attentionGroup(s2(128), 64)).toThrow(/longer than the 64-token window/);
    expect(() => attentionGroup(s2(24), 64)).toThrow(/not a multiple of the shifted sparse attention group \(24 tokens\)/);
    expect(() => attentionGroup(s2(null), 90)).toThrow(/give the group size \(--group\)/);
    expect(() => sparsityOf({ ...DEFAULT_SETTINGS, attention: 's2', group: 3 }, 2)).toThrow(/positive even number/);
    const f = fixture('llama-gqa-s2');
    const t = await Trainer.create(await nodeRuntime(), f.model, f.lora, { adapter: f.adapter });
    await expect(t.lossAndGrads(f.ids.map((s) => s.slice(0, 40)), f.selector)).rejects.toThrow(/40-token window is not a multiple/);
  });
});

describe('lemo with --attention s2', () => {
  const lemo = (args: string[]) => spawnSync(process.execPath, ['bin/lemo.js', ...args], { encoding: 'utf8' });

  it('lemo grad matches the reference, with and without a forced keep set', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lemo-s2-'));
    for (const name of ['llama-gqa-s2', 'llama-gqa-s2-sparse']) {
      const f = fixture(name);
      const source = JSON.parse(readFileSync(join(S2, name, 'source.json'), 'utf8'));
      const out = join(dir, `${name}.safetensors`);
      const keep = f.keep ? ['--keep', join(S2, name, 'keep.json')] : [];
      const r = lemo(['grad', '--model', source.model, '--adapter', source.adapter, '--tokens', join(S2, name, 'tokens.json'), '--attention', 's2', '--group', String(f.group), ...keep, '--out', out]);
      expect(r.status, r.stderr).toBe(0);
      const loss = JSON.parse(r.stdout).loss;
      expect(Math.abs(loss - f.expected.loss) / f.expected.loss).toBeLessThan(1e-4);
      const grads = readSafetensors(new Uint8Array(readFileSync(out)));
      for (const [k, ref] of f.grads) expect(relErr(grads.get(k)!.data, ref.data), k).toBeLessThan(1e-4);
    }
  });

  it('refuses a group the window is not a multiple of, and --group without s2, with status 2', () => {
    const name = 'llama-gqa-s2';
    const source = JSON.parse(readFileSync(join(S2, name, 'source.json'), 'utf8'));
    const grad = (...args: string[]) => lemo(['grad', '--model', source.model, '--tokens', join(S2, name, 'tokens.json'), '--out', join(tmpdir(), 'unused.safetensors'), ...args]);
    const cases: [string[], string][] = [
      [['--attention', 's2', '--group', '32'], 'The 48-token window is not a multiple of the shifted sparse attention group (32 tokens); change the context or the group so the group divides it.'],
      [['--group', '16'], '--group sets the shifted sparse attention group: add --attention s2, or leave --group out.'],
      [['--attention', 's2', '--group', '7'], 'The shifted sparse attention group must be a positive even number of tokens, got 7.'],
    ];
    for (const [args, message] of cases) {
      const r = grad(...args);
      expect(r.stderr, args.join(' ')).toContain(`lemo: ${message}`);
      expect(r.status).toBe(2);
    }
  });

  it('lemo train records the attention in its checkpoint, and refuses a group longer than the window before training', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lemo-s2-train-'));
    const train = (...args: string[]) => lemo(['train', '--model', 'public/models/lemo-tiny', '--data', 'test/fixtures/eval-slice/slice.jsonl', '--sparsity', 'dense', '--ctx', '64', '--backend', 'wasm', ...args]);
    const refused = train('--steps', '1', '--attention', 's2', '--group', '128', '--out', join(dir, 'refused'));
    expect(refused.stderr).toContain('lemo: The shifted sparse attention group (128 tokens) is longer than the 64-token window; use a group of at most 64 tokens.');
    expect(refused.status).toBe(2);
    expect(existsSync(join(dir, 'refused'))).toBe(false);
    const ok = train('--steps', '2', '--attention', 's2', '--group', '16', '--checkpoint-dir', join(dir, 'ck'), '--checkpoint-every', '1', '--out', join(dir, 'out'));
    expect(ok.status, ok.stderr).toBe(0);
    const settings = readCheckpointDir(join(dir, 'ck')).checkpoint.run.settings;
    expect([settings.attention, settings.group]).toEqual(['s2', 16]);
  });
});

// Per-layer threshold tuning (lemo policy tune) on the default model, the policy file, and the
// CLI reading the model folder's policy.json as its default policy.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../src/engine/model/model';
import { loadTokenizer } from '../src/engine/model/tokenizer';
import { loraConfig } from '../src/engine/model/lora';
import { decodeDataset, parseDataset, windows } from '../src/engine/train/data';
import { Trainer } from '../src/engine/train/trainer';
import { blocksToRows } from '../src/engine/sparsity/blocks';
import type { LayerPolicy } from '../src/engine/sparsity/policy';
import { selectorFor, sparsityOf } from '../src/engine/sparsity/selectors';
import { artifactPolicy } from '../src/engine/sparsity/policy';
import { pinnedSettings, runPolicy } from '../src/engine/sparsity/run-policy';
import { DEFAULT_SETTINGS } from '../src/engine/settings';
import { EngineSession } from '../src/engine/session';
import { parsePolicyFile, policyEntry, policyFileJson, policyOfFile } from '../src/engine/sparsity/policy-file';
import { calibrationWindows, factorSteps, tunePolicy, type TunePlan, type TuneResult } from '../src/engine/sparsity/policy-tune';
import { policyJson } from '../src/cli/sparsity-options';
import { readModelDir } from '../src/cli/files';
import { nodeRuntime } from './helpers/runtime';

const MODEL = 'public/models/lemo-tiny';
const DATA = 'public/data/books-short/train.jsonl.gz';
const CTX = 256;
const BLOCK = 32;
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

let model: Model;
let cal: number[][];
beforeAll(() => {
  model = loadModel(readModelDir(MODEL));
  const tok = loadTokenizer(json(join(MODEL, 'tokenizer.json')), json(join(MODEL, 'tokenizer_config.json')));
  const docs = parseDataset('train.jsonl.gz', decodeDataset('train.jsonl.gz', readFileSync(DATA))).slice(0, 8);
  cal = calibrationWindows(windows(docs.map((d) => tok.encode(d.text)), CTX), 2);
});

/** A frozen-model trainer (B = 0: the base model exactly). */
async function frozen(): Promise<Trainer> {
  return Trainer.create(await nodeRuntime(), model, loraConfig(1, 1, ['q_proj']));
}

/** Loss and layer's kept share through the oracle mode the training step uses, independent of the tuner. */
async function oracleLoss(policy: LayerPolicy[], layer: number): Promise<{ loss: number; kept: number }> {
  const t = await frozen();
  const selector = selectorFor({ mode: 'oracle', block: BLOCK, policy }, policy.length);
  let nll = 0;
  let tokens = 0;
  let kept = 0;
  for (const ids of cal) {
    const r = await t.nll([ids], selector);
    nll += r.nll;
    tokens += r.tokens;
    const k = selector.last!.kept[layer];
    kept += k ? blocksToRows(k, BLOCK, ids.length).length : ids.length;
  }
  t.dispose();
  return { loss: nll / tokens, kept: kept / (cal.length * CTX) };
}

const plan = (over: Partial<TunePlan>): TunePlan => ({
  layers: [1, 2, 3], block: BLOCK, step: 0.05, max: 3, bound: 0.005, totalBound: null, start: Array(6).fill({ kind: 'dense' }), ...over,
});

describe('policy tune', () => {
  let tuned: TuneResult;
  beforeAll(async () => {
    tuned = await tunePolicy(await frozen(), cal, plan({}));
  });

  it('chooses per layer the last step whose measured loss is within the bound, and the next step up is over it', async () => {
    const L = 6;
    const dense: LayerPolicy = { kind: 'dense' };
    expect(tuned.layers.map((u) => u.layer)).toEqual([1, 2, 3]);
    const policy: LayerPolicy[] = Array(L).fill(dense);
    let reference = tuned.denseLoss;
    let eliminated = 0;
    let checkedNext = 0;
    for (const u of tuned.layers) {
      expect(u.reference).toBeCloseTo(reference, 12);
      expect(u.limit).toBeCloseTo(reference + 0.005 * tuned.denseLoss, 12);
      // Re-measured through the oracle mode at the chosen factor: the tuner's loss and kept share.
      const at = (factor: number) => policy.map((p, i) => (i === u.layer ? ({ kind: 'threshold', factor } as LayerPolicy) : p));
      const chosen = await oracleLoss(at(u.factor), u.layer);
      expect(chosen.loss).toBeCloseTo(u.loss, 9);
      expect(chosen.kept).toBeCloseTo(u.kept, 12);
      expect(chosen.loss).toBeLessThanOrEqual(u.limit);
      const next = Number((u.factor + 0.05).toFixed(6));
      const up = await oracleLoss(at(next), u.layer);
      const single = u.kept * CTX <= BLOCK; // one block left per window: raising changes nothing
      if (u.factor < 3 && !single) {
        expect(up.loss).toBeGreaterThan(u.limit);
        checkedNext++;
      }
      if (u.kept < 1) eliminated++;
      policy[u.layer] = u.kept < 1 ? { kind: 'threshold', factor: u.factor } : dense;
      reference = u.loss;
    }
    expect(eliminated).toBeGreaterThan(0);
    expect(checkedNext).toBeGreaterThan(0);
    expect(tuned.policy).toEqual(policy);
    expect(tuned.loss).toBeLessThanOrEqual(tuned.denseLoss * (1 + 3 * 0.005) + 1e-12);
    expect((await oracleLoss(tuned.policy, 1)).loss).toBeCloseTo(tuned.loss, 9);
  });

  it('a bound of 0 eliminates nothing that raises the loss: the policy ends at or below the dense loss', async () => {
    const r = await tunePolicy(await frozen(), cal, plan({ bound: 0, layers: [1, 2, 3, 4] }));
    expect(r.loss).toBeLessThanOrEqual(r.denseLoss);
    for (const u of r.layers) expect(u.loss).toBeLessThanOrEqual(u.reference);
    // On these windows no layer can drop a block without raising the loss, so every layer stays dense.
    expect(r.policy.every((p) => p.kind === 'dense')).toBe(true);
    expect(r.layers.map((u) => u.kept)).toEqual([1, 1, 1, 1]);
  });

  it('starts from the given policy for the layers it does not tune', async () => {
    const start: LayerPolicy[] = Array(6).fill({ kind: 'dense' });
    start[4] = { kind: 'ratio', keep: 0.5 };
    const r = await tunePolicy(await frozen(), cal, plan({ layers: [1], bound: 0, start }));
    expect(r.policy[4]).toEqual(start[4]);
    expect(r.layers[0].reference).toBeCloseTo((await oracleLoss(start, 4)).loss, 9);
    expect(r.layers[0].reference).toBeGreaterThan(r.denseLoss);
  });

  it('a total bound caps the loss over all layers', async () => {
    const r = await tunePolicy(await frozen(), cal, plan({ bound: 0.01, totalBound: 0.01 }));
    expect(r.loss).toBeLessThanOrEqual(r.denseLoss * 1.01);
    for (const u of r.layers) expect(u.limit).toBeLessThanOrEqual(r.denseLoss * 1.01 + 1e-12);
  });

  it('refuses plans it cannot run, with a sentence', async () => {
    const t = await frozen();
    await expect(tunePolicy(t, cal, plan({ layers: [6] }))).rejects.toThrow(/Layer 6 does not exist; this model has layers 0..5/);
    await expect(tunePolicy(t, cal, plan({ bound: -1 }))).rejects.toThrow(/bound must be ≥ 0/);
    expect(() => factorSteps(0, 1)).toThrow(/step must be positive/);
    expect(factorSteps(0.1, 0.3)).toEqual([0.1, 0.2, 0.3]);
    expect(() => calibrationWindows([], 4)).toThrow(/No document of the calibration data is as long as the context/);
  });
});

describe('policy file', () => {
  const file = { block: 32, ctx: 256, policy: [null, { threshold: 1.1 }, 0.4, null], tuned: { data: 'd.jsonl', windows: 2, bound: 0.01, totalBound: null, step: 0.05, denseLoss: 4, loss: 4.1, layers: [{ layer: 1, factor: 1.1, kept: 0.2, loss: 4.05 }] } };

  it('round-trips', () => {
    const back = parsePolicyFile(JSON.parse(policyFileJson(file)), 'policy.json', 4);
    expect(back).toEqual(file);
    const policy = policyOfFile(back, 4);
    expect(policy).toEqual([{ kind: 'dense' }, { kind: 'threshold', factor: 1.1 }, { kind: 'ratio', keep: 0.4 }, { kind: 'dense' }]);
    expect(policy.map(policyEntry)).toEqual(file.policy);
  });

  it('refuses a malformed file with a sentence that says where', () => {
    const bad = (j: unknown, layers?: number) => () => parsePolicyFile(j, 'policy.json', layers);
    expect(bad([null, 0.4])).toThrow(/policy.json must be a JSON object \{"block": b, "policy": \[one entry per layer\]/);
    expect(bad({ ...file, policy: [null, 1.5, null, null] })).toThrow(/policy.json is not a valid keep policy: layer 1: expected null \(dense\), a keep ratio in \(0, 1\], or \{"threshold": x\} with x ≥ 0/);
    expect(bad({ ...file, policy: [null, { threshold: -1 }, null, null] })).toThrow(/layer 1: expected null/);
    expect(bad({ ...file, block: 0 })).toThrow(/policy.json is not a valid keep policy: block:/);
    expect(bad({ policy: [null] })).toThrow(/block:/);
    expect(bad({ ...file, keep: 0.4 })).toThrow(/not a valid keep policy/);
    expect(bad(file, 6)).toThrow(/policy.json lists 4 layers but the model has 6; it was made for another model/);
  });

  it('is accepted by --policy as a file, as the bare list', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lemo-policy-'));
    writeFileSync(join(dir, 'p.json'), JSON.stringify(file));
    expect(policyJson(join(dir, 'p.json'))).toEqual(file.policy);
    expect(policyJson('[null, 0.5]')).toEqual([null, 0.5]);
    rmSync(dir, { recursive: true });
  });
});

describe('the model folder\'s policy.json', () => {
  const lemo = (args: string[]) => spawnSync(process.execPath, ['bin/lemo.js', ...args], { encoding: 'utf8' });
  const dir = mkdtempSync(join(tmpdir(), 'lemo-model-'));
  const model = join(dir, 'model');
  const tokens = join(dir, 'tokens.json');

  afterAll(() => rmSync(dir, { recursive: true }));
  beforeAll(() => {
    mkdirSync(model);
    for (const f of readdirSync(MODEL)) if (f !== 'predictors.safetensors') copyFileSync(join(MODEL, f), join(model, f));
    writeFileSync(tokens, JSON.stringify({ input_ids: [Array.from({ length: 256 }, (_, i) => (i * 37 + 11) % 8000)] }));
  });

  it('is the default policy, with its block size, and --policy overrides it', () => {
    writeFileSync(join(model, 'policy.json'), JSON.stringify({ block: 64, policy: [null, 0.5, null, null, null, null] }));
    const r = lemo(['grad', '--model', model, '--tokens', tokens, '--out', join(dir, 'g.safetensors'), '--sparsity', 'oracle', '--backend', 'wasm']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`policy: ${join(model, 'policy.json')}`);
    const kept = JSON.parse(r.stdout).kept as (number[] | null)[];
    // Block 64 from the file (the command's own default is 32): 4 blocks, half of them kept in layer 1 only.
    expect(kept.map((k) => k?.length ?? null)).toEqual([null, 2, null, null, null, null]);

    // A typed --block keeps the file's policy at that block: 8 blocks of 32, half kept.
    const b = lemo(['grad', '--model', model, '--tokens', tokens, '--out', join(dir, 'g.safetensors'), '--sparsity', 'oracle', '--backend', 'wasm', '--block', '32']);
    expect(b.status, b.stderr).toBe(0);
    expect(b.stderr).toContain('tuned at block 64; this run uses --block 32');
    expect((JSON.parse(b.stdout).kept as (number[] | null)[]).map((k) => k?.length ?? null)).toEqual([null, 4, null, null, null, null]);

    const o = lemo(['grad', '--model', model, '--tokens', tokens, '--out', join(dir, 'g.safetensors'), '--sparsity', 'oracle', '--backend', 'wasm', '--policy', '[null,null,null,null,null,0.25]']);
    expect(o.status, o.stderr).toBe(0);
    expect(o.stderr).not.toContain('policy.json');
    // The command's block (32): 8 blocks, a quarter kept in the last layer.
    expect((JSON.parse(o.stdout).kept as (number[] | null)[]).map((k) => k?.length ?? null)).toEqual([null, null, null, null, null, 2]);
  });

  it('refuses a malformed policy.json with a sentence', () => {
    writeFileSync(join(model, 'policy.json'), JSON.stringify({ block: 32, policy: [null, 2, null, null, null, null] }));
    const r = lemo(['grad', '--model', model, '--tokens', tokens, '--out', join(dir, 'g.safetensors'), '--sparsity', 'oracle', '--backend', 'wasm']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/policy.json is not a valid keep policy: layer 1: expected null \(dense\), a keep ratio in \(0, 1\]/);
  });

  it('lemo policy tune writes a policy file the other commands read', () => {
    const out = join(model, 'policy.json');
    const r = lemo(['policy', 'tune', '--model', model, '--data', DATA, '--ctx', '128', '--windows', '1', '--layers', '1', '--bound', '0.02', '--out', out, '--backend', 'wasm']);
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    const file = parsePolicyFile(json(out), out, 6);
    expect(file.policy).toEqual(summary.policy);
    expect(file.tuned!.layers[0].layer).toBe(1);
    expect(file.block).toBe(32);
    expect(file.ctx).toBe(128);
    const g = lemo(['grad', '--model', model, '--tokens', tokens, '--out', join(dir, 'g.safetensors'), '--sparsity', 'oracle', '--backend', 'wasm']);
    expect(g.status, g.stderr).toBe(0);
    expect(g.stderr).toContain('policy:');
  });
});

describe('the run\'s policy: given, else the model\'s policy.json, else the artifact\'s', () => {
  const file = parsePolicyFile({ block: 64, policy: [null, { threshold: 1.2 }, null, null, null, 0.5] }, 'policy.json', 6);
  const s = { ...DEFAULT_SETTINGS, sparsity: 'oracle' as const };

  it('picks in that order, the model\'s with its block', () => {
    expect(runPolicy({ ...s, policy: [null, null, null, null, null, 0.25] }, 6, file)).toEqual({ policy: [...Array(5).fill({ kind: 'dense' }), { kind: 'ratio', keep: 0.25 }], block: 32, source: 'settings', mlpKeep: null });
    expect(runPolicy(s, 6, file)).toEqual({ policy: policyOfFile(file, 6), block: 64, source: 'model', mlpKeep: null });
    expect(runPolicy(s, 6, null)).toEqual({ policy: artifactPolicy(6, s.keepRatio), block: 32, source: 'artifact', mlpKeep: null });
    expect(sparsityOf(s, 6, { modelPolicy: file })).toEqual({ mode: 'oracle', block: 64, policy: policyOfFile(file, 6), mlpKeep: undefined });
  });

  it('the MLP channel share: the settings\' when given (1: every channel), else the file\'s with its policy', () => {
    const withShare = parsePolicyFile({ block: 64, policy: file.policy, mlpKeep: 0.2 }, 'policy.json', 6);
    expect(runPolicy(s, 6, withShare).mlpKeep).toBe(0.2);
    expect(runPolicy({ ...s, mlpKeep: 0.5 }, 6, withShare).mlpKeep).toBe(0.5);
    expect(runPolicy({ ...s, mlpKeep: 1 }, 6, withShare).mlpKeep).toBeNull();
    expect(runPolicy({ ...s, policy: [null, null, null, null, null, 0.25] }, 6, withShare).mlpKeep).toBeNull();
    expect(sparsityOf(s, 6, { modelPolicy: withShare })).toMatchObject({ mode: 'oracle', mlpKeep: 0.2 });
    expect(pinnedSettings(s, 6, withShare).mlpKeep).toBe(0.2);
    expect(() => parsePolicyFile({ block: 64, policy: file.policy, mlpKeep: 0 }, 'policy.json', 6)).toThrow(/mlpKeep/);
  });

  it('a run records the policy it ran with: the model\'s is written into its settings', () => {
    expect(pinnedSettings(s, 6, file)).toEqual({ ...s, policy: file.policy, block: 64, mlpKeep: null });
    expect(pinnedSettings(s, 6, null)).toBe(s);
    expect(pinnedSettings({ ...s, sparsity: 'dense' }, 6, file).policy).toBeNull();
  });

  it('a session takes the folder\'s policy.json with the model, and refuses a bad one with a sentence, keeping the model before', async () => {
    const session = new EngineSession(await nodeRuntime(), () => {});
    const folder = readModelDir(MODEL);
    expect(session.loadModel({ ...folder, policy: { block: 64, policy: file.policy } }).policy).toEqual(file);
    expect(await session.sparsityFor(s)).toMatchObject({ mode: 'oracle', block: 64, policy: policyOfFile(file, 6) });
    expect(() => session.loadModel({ ...folder, policy: { block: 64, policy: [null, 2, null, null, null, null] } })).toThrow(/policy.json is not a valid keep policy: layer 1/);
    expect(() => session.loadModel({ ...folder, policy: { block: 64, policy: [null, null] } })).toThrow(/policy.json lists 2 layers but the model has 6/);
    expect(await session.sparsityFor(s)).toMatchObject({ block: 64 });
    expect(session.loadModel(folder).policy).toBeNull();
    expect(await session.sparsityFor(s)).toMatchObject({ block: 32, policy: artifactPolicy(6, s.keepRatio) });
  });
});

// Model folders as the hub stores large models (model-0000N-of-0000M.safetensors with
// model.safetensors.index.json), and weights read header first: a refusal from the headers
// reads no tensor, and a file over 2 GiB is read in pieces.
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openWeightFile, readModelDir } from '../src/cli/files';
import { loadModel } from '../src/engine/model/model';
import { parseAdapterConfig } from '../src/engine/model/lora';
import { readSafetensors, writeSafetensors } from '../src/engine/model/safetensors';
import { weightsHash } from '../src/engine/model/weights-hash';
import { weightFileOf } from '../src/engine/model/weights';
import { EngineSession } from '../src/engine/session';
import { UserError } from '../src/engine/errors';
import { Trainer } from '../src/engine/train/trainer';
import { readFixture } from './helpers/fixtures';
import { nodeRuntime, relErr } from './helpers/runtime';

const GOLDEN = 'test/fixtures/golden/llama-gqa';
const dir = mkdtempSync(join(tmpdir(), 'lemo-sharded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Tensors = Map<string, { shape: number[]; data: Float32Array }>;
const tensorsOf = (path: string): Tensors => new Map([...readSafetensors(new Uint8Array(readFileSync(path)))].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));

/**
 * The fixture's model split in two shards as save_pretrained splits it, in a folder of its own;
 * `change` edits the shards' tensors or the index before they are written.
 */
function sharded(name: string, change: (shards: Tensors[], map: Record<string, string>) => void = () => {}): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  copyFileSync(join(GOLDEN, 'model', 'config.json'), join(d, 'config.json'));
  const all = tensorsOf(join(GOLDEN, 'model', 'model.safetensors'));
  const names = [...all.keys()].sort();
  const shards: Tensors[] = [new Map(), new Map()];
  names.forEach((n, i) => shards[i < names.length / 2 ? 0 : 1].set(n, all.get(n)!));
  const file = (i: number) => `model-0000${i + 1}-of-00002.safetensors`;
  const map: Record<string, string> = {};
  shards.forEach((s, i) => s.forEach((_, n) => (map[n] = file(i))));
  change(shards, map);
  shards.forEach((s, i) => writeFileSync(join(d, file(i)), writeSafetensors(s, { format: 'pt' })));
  writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: map }));
  return d;
}

const lemo = (args: string[]) => spawnSync(process.execPath, ['bin/lemo.js', ...args], { encoding: 'utf8' });

describe('a sharded model folder (model.safetensors.index.json and its shards)', () => {
  it('loads with the same loss and LoRA gradients as the one file, matching transformers + PEFT', async () => {
    const d = sharded('good');
    const files = readModelDir(d);
    expect(Array.isArray(files.weights) && files.weights.map((f) => f.name)).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const f = readFixture(GOLDEN);
    const model = loadModel(files);
    expect(model.parameterCount).toBe(f.model.parameterCount);
    const rt = await nodeRuntime();
    const ours = await (await Trainer.create(rt, model, f.lora, { adapter: f.adapter })).lossAndGrads(f.ids);
    const one = await (await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter })).lossAndGrads(f.ids);
    expect(ours.loss).toBe(one.loss);
    expect(Math.abs(ours.loss - f.expected.loss) / f.expected.loss).toBeLessThan(1e-4);
    for (const [key, ref] of f.grads) {
      const g = (await rt.read(ours.grads.get(key)!)) as Float32Array;
      expect(relErr(g, ref.data), key).toBeLessThan(1e-4);
      expect(Array.from(g), key).toEqual(Array.from((await rt.read(one.grads.get(key)!)) as Float32Array));
    }
    // The same tensors make the same weights, however they are split: a checkpoint resumes on either.
    expect(await weightsHash(files.weights)).toBe(await weightsHash(new Uint8Array(readFileSync(join(GOLDEN, 'model', 'model.safetensors')))));
  });

  it('exports the merged model from sharded weights as one model.safetensors, the same as from the one file', () => {
    const d = sharded('export-base');
    const out = (n: string) => join(dir, n);
    const a = lemo(['export', '--model', d, '--adapter', join(GOLDEN, 'adapter'), '--out', out('merged-sharded')]);
    expect(a.stderr).toBe('');
    expect(a.status).toBe(0);
    const b = lemo(['export', '--model', join(GOLDEN, 'model'), '--adapter', join(GOLDEN, 'adapter'), '--out', out('merged-one')]);
    expect(b.status).toBe(0);
    expect(readFileSync(join(out('merged-sharded'), 'model.safetensors')).equals(readFileSync(join(out('merged-one'), 'model.safetensors')))).toBe(true);
    expect(JSON.parse(a.stdout).files).not.toContain('model.safetensors.index.json');
  });

  it('refuses a missing shard, a tensor the index puts in a shard that lacks it, and a shard tensor the index does not list, each with a sentence and status 2', () => {
    const missing = sharded('missing');
    rmSync(join(missing, 'model-00002-of-00002.safetensors'));
    const absent = sharded('absent', (shards) => shards[1].delete([...shards[1].keys()][0]));
    const unlisted = sharded('unlisted', (_, map) => delete map[Object.keys(map).sort()[0]]);
    const elsewhere = sharded('elsewhere', (_, map) => (map[Object.keys(map).sort()[0]] = 'model-00002-of-00002.safetensors'));
    const outside = sharded('outside', (_, map) => (map[Object.keys(map).sort()[0]] = '../model.safetensors'));
    const cases: [string, RegExp][] = [
      [missing, /^model\.safetensors\.index\.json names model-00002-of-00002\.safetensors, which is not in the model folder: copy every shard the index names\.$/],
      [absent, /^model\.safetensors\.index\.json puts \S+ in model-00002-of-00002\.safetensors, but that shard has no such tensor: the shard is damaged or from another version of the model\.$/],
      [unlisted, /^model-00001-of-00002\.safetensors holds \S+, which model\.safetensors\.index\.json does not list: the shards and the index are from different models or versions\.$/],
      [elsewhere, /^model-00001-of-00002\.safetensors holds \S+, which model\.safetensors\.index\.json puts in model-00002-of-00002\.safetensors: /],
      [outside, /^model\.safetensors\.index\.json puts \S+ in "\.\.\/model\.safetensors", which is not the name of a \.safetensors file in the model folder\.$/],
    ];
    for (const [d, sentence] of cases) {
      expect(() => loadModel(readModelDir(d)), d).toThrow(sentence);
      const r = lemo(['grad', '--model', d, '--tokens', join(GOLDEN, 'tokens.json'), '--out', join(d, 'g.safetensors')]);
      expect(r.status, d).toBe(2);
      expect(r.stderr.trim().replace(/^error: /, ''), d).toMatch(new RegExp(sentence.source.replace(/^\^/, '')));
    }
  });
});

/** A safetensors file of `dataBytes` of data whose header lists `entries`, made sparse (it takes no disk); `tail` is written at the data's end. */
function sparseFile(path: string, entries: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>, dataBytes: number, tail?: Uint8Array): void {
  let json = JSON.stringify(entries);
  while ((8 + json.length) % 8) json += ' ';
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(new TextEncoder().encode(json), 8);
  writeFileSync(path, head);
  truncateSync(path, head.length + dataBytes);
  if (tail) {
    const fd = openSync(path, 'r+');
    writeSync(fd, tail, 0, tail.length, head.length + dataBytes - tail.length);
    closeSync(fd);
  }
}

describe('weights read header first', () => {
  const GiB = 2 ** 30;

  /** lemo-tiny's config and tokenizer with a sparse 6 GiB model.safetensors (3 G bfloat16 values, all zero but never read). */
  const huge = () => {
    const d = join(dir, 'huge');
    mkdirSync(d, { recursive: true });
    copyFileSync('public/models/lemo-tiny/config.json', join(d, 'config.json'));
    copyFileSync('public/models/lemo-tiny/tokenizer.json', join(d, 'tokenizer.json'));
    const n = 6 * GiB;
    sparseFile(join(d, 'model.safetensors'), { 'model.embed_tokens.weight': { dtype: 'BF16', shape: [n / 2 / 4096, 4096], data_offsets: [0, n] } }, n);
    return d;
  };

  it('refuses a model whose header claims more than --memory-budget without reading its data (a sparse 6 GiB file)', () => {
    const d = huge();
    const r = lemo(['eval', '--model', d, '--data', 'test/fixtures/eval-slice/slice.jsonl', '--ctx', '64', '--memory-budget', '8']);
    expect(r.stderr).toMatch(/This model is too large for the memory here: loading its 3221\.2 M parameters needs about 12\.0 GiB \(its weights, the files read a tensor at a time\) but 8\.0 GiB is available \(--memory-budget\)\. Nothing was loaded\./);
    expect(r.status).toBe(2);
  });

  it('refuses a training step that would not fit beside the weights the headers announce, before reading them', () => {
    // The load fits 32 GiB (30.0 GiB); its 12 GiB of float32 weights and a step of 1000 × 256 tokens do not.
    const r = lemo(['train', '--model', huge(), '--data', 'test/fixtures/eval-slice/slice.jsonl', '--ctx', '256', '--batch', '1000', '--steps', '1', '--sparsity', 'dense', '--memory-budget', '32', '--out', join(dir, 'never')]);
    expect(r.stderr).toMatch(/A step of 1000 × 256 tokens would keep about 27\.5 GiB of activations for its backward, besides 6\.0 GiB of weights, but 32\.0 GiB is available \(--memory-budget\): lower the batch \(--batch\) or the context \(--ctx\)\./);
    expect(r.status).toBe(2);
  });

  it('checks the tokenizer and policy.json against the config before any tensor is read', async () => {
    const bytes = new Uint8Array(readFileSync('public/models/lemo-tiny/model.safetensors'));
    const reads: string[] = [];
    const file = weightFileOf(bytes);
    const counted = { ...file, read: (e: Parameters<typeof file.read>[0]) => (reads.push(e.name), file.read(e)) };
    const config = JSON.parse(readFileSync('public/models/lemo-tiny/config.json', 'utf8'));
    const tokenizer = JSON.parse(readFileSync('public/models/lemo-tiny/tokenizer.json', 'utf8'));
    const s = new EngineSession(await nodeRuntime(), () => {});
    expect(() => s.loadModel({ config, weights: [counted], tokenizer, policy: { block: 64, policy: [null, null] } })).toThrow(/policy\.json lists 2 layers but the model has 6/);
    expect(() => s.loadModel({ config: { ...config, vocab_size: 100 }, weights: [counted], tokenizer })).toThrow(UserError);
    expect(reads).toEqual([]);
    expect(s.loadModel({ config, weights: [counted], tokenizer }).layers).toBe(6);
    expect(reads.length).toBeGreaterThan(0);
  });

  it('opens a file over 2 GiB and reads a tensor past its first 2 GiB (a sparse file)', () => {
    const path = join(dir, 'big.safetensors');
    const big = 2.5 * GiB;
    const values = Float32Array.of(1.5, -2, 3.25, 1e-3);
    sparseFile(path, {
      zeros: { dtype: 'F32', shape: [big / 4], data_offsets: [0, big] },
      last: { dtype: 'F32', shape: [4], data_offsets: [big, big + 16] },
    }, big + 16, new Uint8Array(values.buffer));
    const file = openWeightFile(path, 'model.safetensors');
    expect(file.size).toBeGreaterThan(2 * GiB);
    const e = file.header.entries.find((x) => x.name === 'last')!;
    expect(Array.from(new Float32Array(file.read(e).slice().buffer))).toEqual(Array.from(values));
  });
});

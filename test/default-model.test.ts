// The models, tokenizers and dataset that ship under public/, against what Python's tokenizers and
// transformers computed on committed slices (tools/book-model/make_slice.py for the default model,
// tools/default-model/make_slice.py for the small test model).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../src/engine/model/tokenizer';
import { parseConfig } from '../src/engine/model/config';
import { readSafetensorsHeader } from '../src/engine/model/safetensors';
import { decodeDataset, parseDataset } from '../src/engine/train/data';
import { DEFAULT_PATHS } from '../src/engine/settings';

const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const DEFAULT = join('public', DEFAULT_PATHS.model);
const TINY = 'public/models/lemo-tiny';

/** `lemo eval` on a slice gives the perplexity transformers gave, within 0.1%, on both backends. */
function evalMatches(model: string, slice: string) {
  const expected = json(join(slice, 'expected.json'));
  for (const backend of ['wasm', 'node']) {
    const out = execFileSync('node', ['bin/lemo.js', 'eval', '--model', model, '--data', join(slice, 'slice.jsonl'), '--ctx', String(expected.ctx), '--backend', backend], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.tokens).toBe(expected.tokens);
    expect(Math.abs(r.perplexity - expected.perplexity) / expected.perplexity, backend).toBeLessThan(1e-3);
  }
}

/** The tokenizer in JavaScript gives the ids Python's tokenizers gave on the slice. */
function tokenizesAsPython(model: string, slice: string) {
  const tok = loadTokenizer(json(join(model, 'tokenizer.json')), json(join(model, 'tokenizer_config.json')));
  const docs = parseDataset('slice.jsonl', readFileSync(join(slice, 'slice.jsonl'), 'utf8'));
  expect(docs.map((d) => tok.encode(d.text))).toEqual(json(join(slice, 'tokens.json')).input_ids);
  expect(tok.vocabSize).toBe(8192);
}

describe('default model (lemo-books)', () => {
  it('is a pretrained Llama with grouped-query attention, tied embeddings and context 2048, stored as bfloat16 under 24 MB', () => {
    expect(DEFAULT).toBe('public/models/lemo-books');
    const cfg = parseConfig(json(join(DEFAULT, 'config.json')));
    expect(cfg.family).toBe('llama');
    expect(cfg.kvHeads).toBeLessThan(cfg.heads);
    expect(cfg.tiedEmbeddings).toBe(true);
    expect(cfg.maxPositions).toBe(2048);
    const header = readSafetensorsHeader(new Uint8Array(readFileSync(join(DEFAULT, 'model.safetensors'))));
    const tensors = header.entries;
    expect(new Set(tensors.map((t) => t.dtype))).toEqual(new Set(['BF16']));
    const params = tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    expect(params).toBeGreaterThan(8e6);
    expect(params).toBeLessThan(15e6);
    const bytes = readdirSync(DEFAULT).reduce((a, f) => a + statSync(join(DEFAULT, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(24 * 2 ** 20);
  });

  it('tokenizes in JavaScript exactly as Python tokenizers did', () => tokenizesAsPython(DEFAULT, 'test/fixtures/books-slice'));

  it('lemo eval gives the perplexity transformers gave on the slice, within 0.1% (WASM and native)', () => evalMatches(DEFAULT, 'test/fixtures/books-slice'));
});

describe('small test model (lemo-tiny)', () => {
  it('tokenizes in JavaScript exactly as Python tokenizers did', () => tokenizesAsPython(TINY, 'test/fixtures/eval-slice'));

  it('lemo eval gives the perplexity transformers gave on the slice, within 0.1% (WASM and native)', () => evalMatches(TINY, 'test/fixtures/eval-slice'));
});

describe('default dataset (books-long)', () => {
  it('has long training and held-out books (at least 2 × 2048 tokens each), disjoint', () => {
    const tok = loadTokenizer(json(join(DEFAULT, 'tokenizer.json')));
    const read = (p: string) => parseDataset(p, decodeDataset(p, new Uint8Array(readFileSync(join('public', p)))));
    const train = read(DEFAULT_PATHS.data);
    const held = read(DEFAULT_PATHS.heldout);
    expect(train.length).toBeGreaterThanOrEqual(8);
    expect(held.length).toBeGreaterThanOrEqual(5);
    for (const d of [...train, ...held]) expect(tok.encode(d.text).length).toBeGreaterThanOrEqual(2 * 2048);
    const texts = new Set(train.map((d) => d.text));
    expect(held.some((d) => texts.has(d.text))).toBe(false);
  });
});

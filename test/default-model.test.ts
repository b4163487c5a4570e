// The default model, tokenizer and dataset that ship under public/, against what Python's
// tokenizers and transformers computed on a committed slice (tools/default-model/make_slice.py).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../src/engine/model/tokenizer';
import { parseConfig } from '../src/engine/model/config';
import { parseDataset } from '../src/engine/train/data';

const MODEL = 'public/models/lemo-tiny';
const SLICE = 'test/fixtures/eval-slice';
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

describe('default model', () => {
  it('is a small pretrained Llama with grouped-query attention and tied embeddings, under 32 MB', () => {
    const cfg = parseConfig(json(join(MODEL, 'config.json')));
    expect(cfg.family).toBe('llama');
    expect(cfg.kvHeads).toBeLessThan(cfg.heads);
    expect(cfg.tiedEmbeddings).toBe(true);
    expect(cfg.maxPositions).toBe(1024);
    const bytes = readdirSync(MODEL).reduce((a, f) => a + statSync(join(MODEL, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(32 * 2 ** 20);
    const params = statSync(join(MODEL, 'model.safetensors')).size / 4;
    expect(params).toBeGreaterThan(5e6);
    expect(params).toBeLessThan(15e6);
  });

  it('tokenizes in JavaScript exactly as Python tokenizers did', () => {
    const tok = loadTokenizer(json(join(MODEL, 'tokenizer.json')), json(join(MODEL, 'tokenizer_config.json')));
    const docs = parseDataset('slice.jsonl', readFileSync(join(SLICE, 'slice.jsonl'), 'utf8'));
    const ref = json(join(SLICE, 'tokens.json')).input_ids as number[][];
    expect(docs.map((d) => tok.encode(d.text))).toEqual(ref);
    expect(tok.vocabSize).toBe(8192);
  });

  it('lemo eval gives the perplexity transformers gave on the slice, within 0.1% (WASM and native)', () => {
    const expected = json(join(SLICE, 'expected.json'));
    for (const backend of ['wasm', 'node']) {
      const out = execFileSync('node', ['bin/lemo.js', 'eval', '--data', join(SLICE, 'slice.jsonl'), '--ctx', String(expected.ctx), '--backend', backend], { encoding: 'utf8' });
      const r = JSON.parse(out.trim().split('\n').pop()!);
      expect(r.tokens).toBe(expected.tokens);
      expect(Math.abs(r.perplexity - expected.perplexity) / expected.perplexity, backend).toBeLessThan(1e-3);
    }
  });
});

describe('default dataset', () => {
  it('has at least 30 training and some held-out documents of at least 4096 tokens, disjoint', () => {
    const tok = loadTokenizer(json(join(MODEL, 'tokenizer.json')));
    const read = (f: string) => parseDataset(f, readFileSync(join('public/data/sotu-long', f), 'utf8'));
    const train = read('train.jsonl');
    const held = read('heldout.jsonl');
    expect(train.length).toBeGreaterThanOrEqual(30);
    expect(held.length).toBeGreaterThanOrEqual(5);
    for (const d of [...train, ...held]) expect(tok.encode(d.text).length).toBeGreaterThanOrEqual(4096);
    const texts = new Set(train.map((d) => d.text));
    expect(held.some((d) => texts.has(d.text))).toBe(false);
  });
});

// Bad input gets a sentence that says what is wrong, and loses nothing already loaded: in the
// engine (each case) and through `lemo` (the sentence on stderr, exit status 2).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../src/engine/errors';
import { checkContext, parseConfig } from '../src/engine/model/config';
import { parseJsonText } from '../src/engine/model/json';
import { checkFits, predictLoadBytes, readSafetensors, readSafetensorsHeader, writeSafetensors } from '../src/engine/model/safetensors';
import { loadTokenizer, TokenCache } from '../src/engine/model/tokenizer';
import { EngineSession } from '../src/engine/session';
import { checkDatasetSize, decodeDataset, MAX_DATASET_BYTES, parseDataset } from '../src/engine/train/data';
import { gzipSync } from 'fflate';
import { nodeRuntime } from './helpers/runtime';

const TINY = 'public/models/lemo-tiny';
const GQA = 'test/fixtures/golden/llama-gqa/model';
const GPT2 = 'test/fixtures/golden/gpt2/model';
const read = (p: string) => new Uint8Array(readFileSync(p));
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

/** A safetensors file with the given header and data section length. */
function withHeader(header: Record<string, unknown>, dataBytes: number): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

/** A safetensors file whose header is this text, as written (JSON.stringify cannot repeat a key). */
function withHeaderText(header: string, dataBytes: number): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

/** The sentence a UserError carries, or a failure if something else was thrown. */
function sentence(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error('expected a UserError');
}

describe('safetensors files', () => {
  const good = writeSafetensors(new Map([['a', { shape: [2, 3], data: new Float32Array(6) }], ['b', { shape: [4], data: new Float32Array(4) }]]));

  it('a file cut short: inside the length, inside the header, inside the data', () => {
    expect(sentence(() => readSafetensors(good.subarray(0, 5)))).toMatch(/model\.safetensors .*5 bytes, fewer than the 8 .*cut short/);
    expect(sentence(() => readSafetensors(good.subarray(0, 20)))).toMatch(/header should be \d+ bytes but the file has only 12 .*cut short/);
    expect(sentence(() => readSafetensors(good.subarray(0, good.length - 1)))).toMatch(/tensor b ends at byte 40 of the data but the file holds only 39 bytes/);
  });

  it('a corrupt file: garbage in the length, garbage in the header', () => {
    const garbage = Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) & 0xff);
    expect(sentence(() => readSafetensors(garbage, 'x.safetensors'))).toMatch(/^x\.safetensors is not a valid safetensors file: its first 8 bytes give a header of \d+ bytes/);
    const broken = new Uint8Array(good);
    broken[9] = 0x7b; // '{' where '"' was: no longer JSON
    broken[10] = 0x7b;
    expect(sentence(() => readSafetensors(broken))).toMatch(/header is not JSON, so the file is corrupt/);
  });

  it('a header that lies: overlapping tensors, offsets past the end, dtype × shape ≠ bytes, unknown dtype', () => {
    const t = (dtype: string, shape: number[], s: number, e: number) => ({ dtype, shape, data_offsets: [s, e] });
    expect(sentence(() => readSafetensors(withHeader({ a: t('F32', [4], 0, 16), b: t('F32', [4], 8, 24) }, 24)))).toMatch(/tensors a \(bytes 0\.\.16\) and b \(bytes 8\.\.24\) overlap/);
    expect(sentence(() => readSafetensors(withHeader({ a: t('F32', [4], 0, 16), b: t('F32', [4], 16, 32) }, 24)))).toMatch(/tensor b ends at byte 32 of the data but the file holds only 24 bytes/);
    expect(sentence(() => readSafetensors(withHeader({ a: t('F16', [3, 3], 0, 16) }, 16)))).toMatch(/tensor a is F16 of shape \[3, 3\], which takes 18 bytes, but its offsets 0\.\.16 span 16/);
    expect(sentence(() => readSafetensors(withHeader({ a: t('F32', [-4], 0, 16) }, 16)))).toMatch(/tensor a has shape \[-4\], not a list of sizes/);
    expect(sentence(() => readSafetensors(withHeader({ a: t('F32', [4], 16, 0) }, 16)))).toMatch(/data_offsets \[16,0\], not a start and an end/);
    expect(sentence(() => readSafetensors(withHeader({ a: t('U8', [4], 0, 4) }, 4)))).toMatch(/tensor a has dtype U8; only F32, F16, BF16, F64, I64 and I32 are supported/);
    // Adjacent tensors are fine.
    expect([...readSafetensors(withHeader({ a: t('F32', [4], 0, 16), b: t('F32', [2], 16, 24) }, 24)).keys()]).toEqual(['a', 'b']);
  });

  it('overlapping tensors with an empty one between them, and a tensor named twice', () => {
    const t = (dtype: string, shape: number[], s: number, e: number) => ({ dtype, shape, data_offsets: [s, e] });
    const hidden = withHeader({ a: t('F32', [4], 0, 16), e: t('F32', [0], 4, 4), b: t('F32', [4], 8, 24) }, 24);
    expect(sentence(() => readSafetensors(hidden))).toMatch(/tensors a \(bytes 0\.\.16\) and b \(bytes 8\.\.24\) overlap/);
    // A short tensor inside a long one, with the long one's end further than its neighbour's.
    const nested = withHeader({ a: t('F32', [8], 0, 32), b: t('F32', [1], 4, 8), c: t('F32', [2], 16, 24) }, 32);
    expect(sentence(() => readSafetensors(nested))).toMatch(/tensors a \(bytes 0\.\.32\) and b \(bytes 4\.\.8\) overlap/);
    const entry = (s: number, e: number) => `{"dtype":"F32","shape":[${(e - s) / 4}],"data_offsets":[${s},${e}]}`;
    const twice = withHeaderText(`{"w":${entry(0, 16)}, "v":${entry(16, 20)},"w" :${entry(20, 24)}}`, 24);
    expect(sentence(() => readSafetensors(twice))).toBe('model.safetensors is not a valid safetensors file: its header lists "w" more than once.');
    // The same key inside an entry, or escaped differently in the text, is told apart right.
    const fine = withHeaderText(`{"__metadata__":{"w":"x","format":"pt"},"w":${entry(0, 16)},"w\\u0031":${entry(16, 20)}}`, 20);
    expect([...readSafetensors(fine).keys()]).toEqual(['w', 'w1']);
    const escaped = withHeaderText(`{"w1":${entry(0, 16)},"w\\u0031":${entry(16, 20)}}`, 20);
    expect(sentence(() => readSafetensors(escaped))).toMatch(/lists "w1" more than once/);
    // Empty tensors anywhere in the data are fine.
    expect([...readSafetensors(withHeader({ a: t('F32', [4], 0, 16), e: t('F32', [0, 3], 8, 8) }, 16)).keys()]).toEqual(['a', 'e']);
  });
});

describe('config.json and tokenizer.json', () => {
  it('an unsupported architecture is named, with what is supported', () => {
    expect(sentence(() => parseConfig({ model_type: 'mamba', architectures: ['MambaForCausalLM'] }))).toBe(
      'This model\'s architecture (model_type "mamba", MambaForCausalLM) is not supported. Supported: LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM (Llama family) and GPT2LMHeadModel (GPT-2 family).',
    );
  });

  it("a tokenizer larger than the model's vocabulary is refused and the loaded model stays", async () => {
    const s = new EngineSession(await nodeRuntime(), () => {});
    const tiny = { config: json(`${TINY}/config.json`), weights: read(`${TINY}/model.safetensors`), tokenizer: json(`${TINY}/tokenizer.json`) };
    s.loadModel(tiny);
    const gqa = { config: json(`${GQA}/config.json`), weights: read(`${GQA}/model.safetensors`), tokenizer: json(`${TINY}/tokenizer.json`) };
    expect(sentence(() => s.loadModel(gqa))).toBe("tokenizer.json has 8192 tokens but the model's vocabulary is 96: they do not belong together.");
    expect(s.config.vocabSize).toBe(8192);
    expect(s.tokenize([{ name: 'x', text: 'The Congress' }])[0].length).toBeGreaterThan(0);
  });
});

/** lemo-tiny's tokenizer.json cut to its first `n` ids (the merges between them kept). */
function cutTokenizer(n: number): Record<string, unknown> {
  const t = json(`${TINY}/tokenizer.json`);
  const vocab = Object.fromEntries(Object.entries(t.model.vocab as Record<string, number>).filter(([, id]) => id < n));
  const merges = (t.model.merges as (string | string[])[]).filter((m) => {
    const [a, b] = typeof m === 'string' ? m.split(' ') : m;
    return a + b in vocab && a in vocab && b in vocab;
  });
  return { ...t, model: { ...t.model, vocab, merges }, added_tokens: (t.added_tokens as { id: number }[]).filter((a) => a.id < n) };
}

describe('JSON nested too deep to walk', () => {
  const deep = (n: number) => `{"model_type": "llama", "x": ${'['.repeat(n)}${']'.repeat(n)}}`;

  it('text nested past 64 levels is refused when read, with strings and escapes not counted as nesting', () => {
    expect(sentence(() => parseJsonText(deep(200_000), 'config.json'))).toBe(
      'config.json nests its values more than 64 levels deep, which no such file does: it is damaged or not the file meant.',
    );
    expect(parseJsonText(deep(60), 'config.json')).toMatchObject({ model_type: 'llama' });
    expect(parseJsonText(`{"s": "${'[{'.repeat(100)}\\"[["}`, 'x.json')).toEqual({ s: `${'[{'.repeat(100)}"[[` });
    expect(sentence(() => parseJsonText('{"a": ', 'x.json'))).toMatch(/^x\.json is not valid JSON: /);
  });

  it('a parsed config.json nested that deep is refused by the engine too', () => {
    let v: unknown = [];
    for (let i = 0; i < 200_000; i++) v = [v];
    expect(sentence(() => parseConfig({ ...json(`${TINY}/config.json`), x: v }))).toMatch(/^config\.json nests its values more than 64 levels deep/);
  });
});

describe('a tokenizer that does not belong, or could hang', () => {
  const tiny = () => ({ config: json(`${TINY}/config.json`), weights: read(`${TINY}/model.safetensors`), tokenizer: json(`${TINY}/tokenizer.json`) });

  it("a tokenizer with under half the model's vocabulary is refused; one a little smaller (a padded vocab_size) is taken", async () => {
    const s = new EngineSession(await nodeRuntime(), () => {});
    s.loadModel(tiny());
    expect(sentence(() => s.loadModel({ ...tiny(), tokenizer: cutTokenizer(96) }))).toBe("tokenizer.json has 96 tokens but the model's vocabulary is 8192: they do not belong together.");
    expect(sentence(() => s.loadModel({ ...tiny(), tokenizer: cutTokenizer(4095) }))).toMatch(/has 4095 tokens but the model's vocabulary is 8192/);
    expect(s.loadModel({ ...tiny(), tokenizer: cutTokenizer(8000) }).vocabSize).toBe(8192);
    expect(s.tokenize([{ name: 'x', text: 'The Congress' }])[0].every((id) => id < 8000)).toBe(true);
    expect(s.loadModel({ ...tiny(), tokenizer: cutTokenizer(4096) }).vocabSize).toBe(8192);
  });

  it("a vocabulary of Qwen's size is counted (no spread of its ids)", () => {
    const vocab = Object.fromEntries(Array.from({ length: 151_665 }, (_, i) => [`t${i}`, i]));
    const t = { version: '1.0', normalizer: null, post_processor: null, decoder: null, model: { type: 'WordLevel', vocab, unk_token: 't0' }, pre_tokenizer: { type: 'Whitespace' }, added_tokens: [{ id: 151_700, content: '<x>', special: true }] };
    expect(loadTokenizer(t).vocabSize).toBe(151_701);
  });

  it('a regular expression with nested repetition is refused before the tokenizer is built; the model loaded before stays', async () => {
    const s = new EngineSession(await nodeRuntime(), () => {});
    s.loadModel(tiny());
    const t = json(`${TINY}/tokenizer.json`);
    const hanging = { ...t, normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '(a+)+$' }, content: 'b' }] } };
    expect(sentence(() => s.loadModel({ ...tiny(), tokenizer: hanging }))).toBe(
      'tokenizer.json\'s normalizer.normalizers[1].pattern has the regular expression "(a+)+$", whose repeated group repeats inside too: matching it can take forever on some text, so rewrite it without a repetition inside a repeated group.',
    );
    const split = { ...t, pre_tokenizer: { type: 'Split', pattern: { Regex: '(\\s*x+)*y' }, behavior: 'Isolated', invert: false } };
    expect(sentence(() => s.loadModel({ ...tiny(), tokenizer: split }))).toMatch(/^tokenizer\.json's pre_tokenizer\.pattern has the regular expression "\(\\\\s\*x\+\)\*y"/);
    expect(s.tokenize([{ name: 'x', text: 'a'.repeat(40) + '!' }])[0].length).toBeGreaterThan(0);
    // Real patterns (GPT-2's, Llama 3's pre-tokenizer splits) load.
    const llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    const real = { ...t, normalizer: { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }, pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: llama3 }, behavior: 'Isolated', invert: false }, t.pre_tokenizer] } };
    expect(s.loadModel({ ...tiny(), tokenizer: real }).vocabSize).toBe(8192);
  });
});

describe('datasets', () => {
  const enc = (s: string) => new TextEncoder().encode(s);

  it('empty: no bytes, only white space, a JSONL file of blank lines', () => {
    expect(sentence(() => decodeDataset('a.txt', new Uint8Array(0)))).toBe('a.txt is empty: there is no text to train on.');
    expect(sentence(() => parseDataset('a.md', ' \n\t\n'))).toBe('a.md is empty: there is no text to train on.');
    expect(sentence(() => parseDataset('a.jsonl', '\n\n'))).toBe('a.jsonl is empty: there is no text to train on.');
    expect(sentence(() => parseDataset('a.jsonl', '{"text": ""}\n{"text": "  "}\n'))).toBe('a.jsonl has no lines with text.');
  });

  it('binary: a zero byte, or text that is mostly control characters', () => {
    const png = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d);
    expect(sentence(() => decodeDataset('photo.txt', png))).toBe('photo.txt is a binary file, not text (a zero byte at offset 8); give a .txt, .md or .jsonl file.');
    const controls = Uint8Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? 0x01 : 0x41));
    expect(sentence(() => decodeDataset('x.txt', controls))).toMatch(/^x\.txt looks like a binary file, not text \(67 control characters in 200\)/);
  });

  it('invalid UTF-8: the byte and its line', () => {
    const latin1 = Uint8Array.from([...enc('one\ntwo\ncaf'), 0xe9, ...enc('\n')]);
    expect(sentence(() => decodeDataset('notes.txt', latin1))).toBe(
      'notes.txt is not valid UTF-8 text: byte 11 (line 3) is 0xe9, which UTF-8 does not allow there. Save the file as UTF-8.',
    );
    // Surrogates and overlong forms are refused as TextDecoder's fatal mode refuses them.
    for (const bad of [[0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]) {
      expect(() => decodeDataset('b.txt', Uint8Array.from([0x41, ...bad])), bad.join()).toThrow(/byte 1 \(line 1\)/);
    }
    const fine = enc('naïve café — 日本語 😀\n');
    expect(decodeDataset('ok.txt', fine)).toBe(new TextDecoder('utf-8', { fatal: true }).decode(fine));
  });

  it('a dataset over the size limit: by its size, and a gzip file by the size its trailer gives, before it is inflated', () => {
    expect(() => checkDatasetSize('ok.jsonl', MAX_DATASET_BYTES)).not.toThrow();
    expect(sentence(() => checkDatasetSize('big.jsonl', 600 * 2 ** 20))).toBe(
      'big.jsonl is 600 MiB, more than the 512 MiB a dataset may have: give a part of it (split it into smaller files and pick some).',
    );
    const gz = gzipSync(enc('{"text": "a"}\n'));
    new DataView(gz.buffer, gz.byteOffset).setUint32(gz.length - 4, 2 ** 31, true);
    expect(sentence(() => decodeDataset('bomb.jsonl.gz', gz))).toMatch(/^bomb\.jsonl\.gz is more than 512 MiB once decompressed, more than the 512 MiB a dataset may have/);
  });

  it('tokenizing tells how far it is, between texts, and once more at the end', () => {
    const cache = new TokenCache(loadTokenizer(json(`${TINY}/tokenizer.json`)));
    const heard: [number, number][] = [];
    const ids = cache.encodeAll(['one text', 'and another', 'the last'], (done, total) => heard.push([done, total]), 0);
    expect(ids.map((x) => x.length)).toEqual(['one text', 'and another', 'the last'].map((t) => cache.tokenizer.encode(t).length));
    expect(heard).toEqual([[8, 27], [19, 27], [27, 27], [27, 27]]);
    const quiet: unknown[] = [];
    cache.encodeAll(['short'], (...a) => quiet.push(a));
    expect(quiet).toEqual([]);
  });

  it('JSONL lines without a text field: which line, and what it has', () => {
    expect(sentence(() => parseDataset('d.jsonl', '{"text": "a"}\n\n{"content": "b", "id": 3}\n'))).toBe(
      'd.jsonl, line 3: no "text" field with a string (it has "content", "id"); each JSONL line needs {"text": "..."}.',
    );
    expect(sentence(() => parseDataset('d.jsonl', '{"text": "a"}\n{"text": 5}\n'))).toMatch(/^d\.jsonl, line 2: no "text" field with a string \(it has "text"\)/);
    expect(sentence(() => parseDataset('d.jsonl', '{"text": "a"}\n{text: "b"}\n'))).toBe('d.jsonl, line 2: not valid JSON.');
  });
});

describe('context length and memory', () => {
  it('a context beyond the model\'s reach names the most it takes and the RoPE scale that would reach it', () => {
    const tiny = parseConfig(json(`${TINY}/config.json`));
    expect(() => checkContext(tiny, 1024)).not.toThrow();
    expect(sentence(() => checkContext(tiny, 4096))).toBe(
      'A context of 4096 tokens is longer than this model reaches: 1024 positions × RoPE scale 1 = 1024 tokens. A linear RoPE scale of 4 (--rope-scale 4) reaches 4096.',
    );
    tiny.rope!.linearFactor = 2;
    expect(() => checkContext(tiny, 2048)).not.toThrow();
    expect(sentence(() => checkContext(tiny, 3000))).toMatch(/1024 positions × RoPE scale 2 = 2048 tokens\. A linear RoPE scale of 3 \(--rope-scale 3\) reaches 3072\./);
    const gpt2 = parseConfig(json(`${GPT2}/config.json`));
    expect(sentence(() => checkContext(gpt2, gpt2.maxPositions + 1))).toBe(
      `A context of ${gpt2.maxPositions + 1} tokens is longer than this model can take: it has ${gpt2.maxPositions} learned positions, which cannot be scaled, so ${gpt2.maxPositions} is the most.`,
    );
  });

  it("a Mistral sliding window shorter than the sequence is refused by every pass; within it the model runs", async () => {
    const s = new EngineSession(await nodeRuntime(), () => {});
    s.loadModel({ config: { ...json(`${GQA}/config.json`), model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: 16 }, weights: read(`${GQA}/model.safetensors`) });
    const ids = (T: number) => [Array.from({ length: T }, (_, i) => (i * 7) % 96)];
    await expect(s.grad(ids(17))).rejects.toThrow("A context of 17 tokens is longer than this model's sliding attention window of 16 tokens (sliding_window in config.json)");
    expect((await s.grad(ids(16))).loss).toBeGreaterThan(0);
  });

  it('a model too large for the budget is refused from its header, before loading, saying needed and available', () => {
    const weights = read(`${TINY}/model.safetensors`);
    const { needed, parameters } = predictLoadBytes(weights);
    const tensors = [...readSafetensors(weights).values()];
    expect(parameters).toBe(tensors.reduce((n, t) => n + t.data.length, 0));
    // The file in memory, and the weights as held (the CPU engine's tensors are the same arrays):
    // bfloat16 matrices stay 2 bytes a value, the norms are widened.
    expect(tensors.some((t) => t.dtype === 'BF16' && t.shape.length === 2)).toBe(true);
    const held = tensors.reduce((n, t) => n + t.data.length * (t.shape.length === 2 && t.dtype === 'BF16' ? 2 : 4), 0);
    expect(needed).toBe(weights.byteLength + held);
    // Read a tensor at a time (a file handle, a dropped File): the largest tensor's bytes instead of the file's.
    const header = { size: weights.byteLength, header: readSafetensorsHeader(weights) };
    expect(predictLoadBytes([header]).needed).toBe(held + Math.max(...header.header.entries.map((e) => e.end - e.start)));
    expect(() => checkFits(weights, { bytes: needed, source: 'test' })).not.toThrow();
    expect(sentence(() => checkFits(weights, { bytes: 0.01 * 2 ** 30, source: 'navigator.deviceMemory' }))).toMatch(
      /^This model is too large for the memory here: loading its 6\.\d M parameters needs about 0\.02 GiB .* but 0\.01 GiB is available \(navigator\.deviceMemory\)\. Nothing was loaded\.$/,
    );
  });

  it("a tensor larger than the GPU's largest buffer is refused, naming the tensor and the limit", () => {
    const weights = read(`${TINY}/model.safetensors`);
    const fits = { bytes: Infinity, source: '', deviceSeparate: true };
    expect(() => checkFits(weights, { ...fits, maxTensor: { bytes: 8192 * 256 * 4, source: 'a limit' } })).not.toThrow();
    expect(sentence(() => checkFits(weights, { ...fits, maxTensor: { bytes: 2 ** 20, source: "this GPU's maxStorageBufferBindingSize" } }))).toBe(
      "This model is too large for this GPU: its largest tensor, model.embed_tokens.weight [8192, 256], takes 8 MiB in float32 but one buffer may hold 1 MiB (this GPU's maxStorageBufferBindingSize). Nothing was loaded.",
    );
  });

  it("a model loads when only its lookup tables are over the GPU's largest buffer (they are stored in chunks of rows); a larger layer matrix is refused", async () => {
    const s = new EngineSession(await nodeRuntime(), () => {});
    const tiny = { config: json(`${TINY}/config.json`), weights: read(`${TINY}/model.safetensors`) };
    const gpu = (bytes: number) => ({ memoryBudget: { bytes: Infinity, source: '', deviceSeparate: true, maxTensor: { bytes, source: "this GPU's maxStorageBufferBindingSize" } } });
    // The embedding (tied head) takes 8 MiB in float32; the largest layer matrix 256 × 688 (0.67 MiB).
    expect(s.loadModel(tiny, gpu(2 ** 20)).vocabSize).toBe(8192);
    expect(sentence(() => s.loadModel(tiny, gpu(2 ** 19)))).toMatch(/^This model is too large for this GPU: its largest tensor, model\.layers\.\d\.mlp\.\w+_proj\.weight \[\d+, \d+\], takes 0\.672 MiB in float32 but one buffer may hold 0\.5 MiB \(this GPU's maxStorageBufferBindingSize\)\. Nothing was loaded\.$/);
  });

  it('after a finished run, a bad model, a bad dataset and a too-long context leave the model and the trained adapter as they were', async () => {
    const s = new EngineSession(await nodeRuntime(), () => {});
    const tiny = { config: json(`${TINY}/config.json`), weights: read(`${TINY}/model.safetensors`), tokenizer: json(`${TINY}/tokenizer.json`) };
    s.loadModel(tiny);
    const docs = parseDataset('slice.jsonl', readFileSync('test/fixtures/eval-slice/slice.jsonl', 'utf8'));
    await s.train(docs, { ...(await import('../src/engine/session')).DEFAULT_SETTINGS, ctx: 64, steps: 2, sparsity: 'dense' });
    const before = await s.exportFolder('adapter', 'lemo-tiny');
    const truncated = { ...tiny, weights: tiny.weights.subarray(0, 1000) };
    expect(() => s.loadModel(truncated)).toThrow(/cut short/);
    expect(() => s.loadModel({ ...tiny, config: { model_type: 'bert' } })).toThrow(/not supported/);
    expect(() => s.loadModel({ ...tiny, config: { ...tiny.config, rms_norm_eps: 1e300 } })).toThrow(/rms_norm_eps 1e\+300/);
    expect(() => s.loadModel({ ...tiny, config: { ...tiny.config, rope_parameters: { rope_type: 'linear', factor: 0 } } })).toThrow(/factor\) is 0/);
    expect(() => s.loadModel(tiny, { ropeScale: -1 })).toThrow(/--rope-scale\) is -1/);
    await expect(s.train(docs, { ...(await import('../src/engine/session')).DEFAULT_SETTINGS, ctx: 64, steps: 1, lr: -1 })).rejects.toThrow(/learning rate/);
    expect(() => s.loadModel(tiny, { memoryBudget: { bytes: 1e6, source: 'a setting' } })).toThrow(/too large/);
    await expect(s.train(docs, { ...(await import('../src/engine/session')).DEFAULT_SETTINGS, ctx: 4096, steps: 1 })).rejects.toThrow(/--rope-scale 4/);
    expect(() => parseDataset('bad.jsonl', '{"x": 1}')).toThrow(/line 1/);
    const after = await s.exportFolder('adapter', 'lemo-tiny');
    expect(after.map((f) => f.name)).toEqual(before.map((f) => f.name));
    expect(Buffer.compare(after[1].bytes, before[1].bytes)).toBe(0);
    expect(s.config.vocabSize).toBe(8192);
  });
});

describe('lemo prints the sentence on stderr and exits 2', () => {
  let dir = '';
  const folder = (name: string, files: Record<string, Uint8Array | string>, base = TINY) => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(base, f), join(d, f));
    for (const [f, bytes] of Object.entries(files)) writeFileSync(join(d, f), bytes);
    return d;
  };
  const lemo = (args: string[]) => spawnSync(process.execPath, ['bin/lemo.js', ...args], { encoding: 'utf8' });
  const data = (name: string, bytes: Uint8Array | string) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const SLICE = 'test/fixtures/eval-slice/slice.jsonl';
  const train = (...out: string[]) => ['train', '--model', TINY, '--data', SLICE, '--sparsity', 'dense', '--ctx', '64', '--steps', '1', ...out];
  const folderAt = (name: string) => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  /** lemo-tiny's predictors with their description changed. */
  const predictors = (name: string, change: Record<string, unknown>) => {
    const bytes = read(`${TINY}/predictors.safetensors`);
    const description = JSON.parse(readSafetensorsHeader(bytes).metadata!.lemo_predictors);
    const tensors = new Map([...readSafetensors(bytes)].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
    return data(`${name}.safetensors`, writeSafetensors(tensors, { lemo_predictors: JSON.stringify({ ...description, ...change }) }));
  };
  /** A file of `bytes` zero bytes that takes no disk (sparse). */
  const sparse = (name: string, bytes: number) => {
    const p = join(dir, name);
    writeFileSync(p, '');
    truncateSync(p, bytes);
    return p;
  };
  /** A PEFT adapter folder for lemo-tiny's q_proj (its factors are never read: the refusals come first). */
  const adapter = (name: string, targets: string | string[] = ['q_proj']) => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 1, lora_alpha: 1, target_modules: targets }));
    writeFileSync(join(d, 'adapter_model.safetensors'), writeSafetensors(new Map()));
    return d;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'lemo-bad-'));
  });

  const cases: [string, () => string[], RegExp][] = [
    ['a truncated safetensors', () => ['eval', '--model', folder('cut', { 'model.safetensors': read(`${TINY}/model.safetensors`).subarray(0, 4_000_000) }), '--data', SLICE, '--ctx', '64'], /model\.safetensors is not a valid safetensors file: tensor .* ends at byte \d+ of the data but the file holds only \d+ bytes/],
    ['a header lying about offsets', () => ['eval', '--model', folder('lying', { 'model.safetensors': withHeader({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [4, 20] } }, 20) }), '--data', SLICE, '--ctx', '64'], /tensors a \(bytes 0\.\.16\) and b \(bytes 4\.\.20\) overlap/],
    ['an unsupported architecture', () => ['eval', '--model', folder('bert', { 'config.json': JSON.stringify({ model_type: 'bert', architectures: ['BertForMaskedLM'] }) }), '--data', SLICE, '--ctx', '64'], /model_type "bert", BertForMaskedLM\) is not supported/],
    ['a tokenizer of another model', () => ['eval', '--model', folder('mismatch', { 'config.json': readFileSync(`${GQA}/config.json`), 'model.safetensors': read(`${GQA}/model.safetensors`) }), '--data', SLICE, '--ctx', '16'], /tokenizer\.json has 8192 tokens but the model's vocabulary is 96/],
    ['an empty dataset', () => ['train', '--data', data('empty.txt', ''), '--ctx', '64', '--steps', '1', '--out', join(dir, 'o')], /empty\.txt is empty: there is no text to train on\./],
    ['a binary dataset', () => ['train', '--data', data('bin.txt', Uint8Array.of(1, 2, 0, 3)), '--ctx', '64', '--steps', '1', '--out', join(dir, 'o')], /bin\.txt is a binary file, not text/],
    ['invalid UTF-8', () => ['train', '--data', data('latin1.txt', Uint8Array.of(0x61, 0x0a, 0xe9, 0x0a)), '--ctx', '64', '--steps', '1', '--out', join(dir, 'o')], /latin1\.txt is not valid UTF-8 text: byte 2 \(line 2\) is 0xe9/],
    ['JSONL without text', () => ['train', '--data', data('notext.jsonl', '{"text": "a b c"}\n{"body": "d"}\n'), '--ctx', '64', '--steps', '1', '--out', join(dir, 'o')], /notext\.jsonl, line 2: no "text" field with a string \(it has "body"\)/],
    ['a context beyond the model', () => ['eval', '--model', TINY, '--data', SLICE, '--ctx', '2048', '--rope-scale', '1.5'], /1024 positions × RoPE scale 1\.5 = 1536 tokens\. A linear RoPE scale of 2 \(--rope-scale 2\) reaches 2048/],
    ['a model too large for the memory budget', () => ['train', '--model', TINY, '--data', SLICE, '--ctx', '64', '--steps', '1', '--out', join(dir, 'o'), '--memory-budget', '0.01'], /too large for the memory here: .*needs about 0\.02 GiB .* but 0\.01 GiB is available \(--memory-budget\)/],
    // Output places are checked before the first step, not found wrong after the last.
    ['train --out that is a file', () => train('--out', data('out-file', 'x')), /--out .*out-file is a file, not a folder: give a folder to write into \(it is made when missing\)\./],
    ['train --merged-out that cannot be made', () => train('--out', join(dir, 'o'), '--merged-out', join(data('blocker', 'x'), 'merged')), /--merged-out .*blocker\/merged cannot be made: .*blocker is a file, not a folder\./],
    ['train --checkpoint-dir that is a file', () => train('--out', join(dir, 'o'), '--checkpoint-dir', data('ck-file', 'x')), /--checkpoint-dir .*ck-file is a file, not a folder/],
    ['train --merged-out into the base model', () => {
      const base = folder('tiny-copy', {});
      return ['train', '--model', base, '--data', SLICE, '--sparsity', 'dense', '--ctx', '64', '--steps', '1', '--out', join(dir, 'o'), '--merged-out', `${base}/.`];
    }, /--merged-out .*tiny-copy\/\. is the base model's folder \(.*tiny-copy\): writing there would overwrite its weights, so give another folder\./],
    ['eval --dump-ids that is a folder', () => ['eval', '--model', TINY, '--data', SLICE, '--ctx', '64', '--dump-ids', folderAt('ids-dir')], /--dump-ids .*ids-dir is a folder, not a file: give a file name to write\./],
    ['eval --dump-ids that cannot be made', () => ['eval', '--model', TINY, '--data', SLICE, '--ctx', '64', '--dump-ids', join(data('blocker2', 'x'), 'sub', 'ids.json')], /--dump-ids .*ids\.json cannot be made: .*blocker2 is a file, not a folder\./],
    ['an endless device as the dataset', () => ['train', '--model', TINY, '--data', '/dev/zero', '--ctx', '64', '--steps', '1', '--out', join(dir, 'o')], /zero is a binary file, not text \(a zero byte at offset 0\)/],
    ['a dataset over the size limit', () => ['train', '--model', TINY, '--data', sparse('huge.jsonl', 600 * 2 ** 20), '--ctx', '64', '--steps', '1', '--out', join(dir, 'o')], /huge\.jsonl is 600 MiB, more than the 512 MiB a dataset may have/],
    ['a folder as the dataset', () => ['eval', '--model', TINY, '--data', dir, '--ctx', '64'], /lemo-bad-\w+ is a folder; give a dataset file in it \(\.txt, \.md or \.jsonl, gzipped or not\)\./],
    ['a config.json nested 200,000 levels deep (export)', () => ['export', '--model', folder('deep', { 'config.json': `{"model_type": "llama", "x": ${'['.repeat(200_000)}${']'.repeat(200_000)}}` }), '--adapter', adapter('lora'), '--out', join(dir, 'merged')], /config\.json \(.*config\.json\) nests its values more than 64 levels deep/],
    ['an adapter whose target_modules regex does not compile', () => ['eval', '--model', TINY, '--data', SLICE, '--ctx', '64', '--adapter', adapter('bad-regex', '(q_proj')], /target_modules "\(q_proj" is not a regular expression that compiles \(.*\); give a list of module names or a valid regex\./],
    ['a keep file that is a folder', () => ['grad', '--model', TINY, '--tokens', data('ids.json', '{"input_ids": [[1, 2, 3, 4]]}'), '--out', join(dir, 'g.safetensors'), '--keep', dir], /keep file \(.*\) is a folder; give the file itself\./],
    ['a malformed keep file', () => ['grad', '--model', TINY, '--tokens', data('ids.json', '{"input_ids": [[1, 2, 3, 4]]}'), '--out', join(dir, 'g.safetensors'), '--keep', data('keep.json', '{"block": 2, "layers": null}')], /The keep file must list one entry per layer \(6\)\./],
    ['predictors whose block is 0', () => ['train', '--model', TINY, '--data', SLICE, '--ctx', '64', '--steps', '1', '--sparsity', 'lemo', '--predictors', predictors('block0', { block: 0 }), '--out', join(dir, 'o')], /block0\.safetensors: the predictors description in its header is malformed \(block: /],
    ['predictors whose layers are null', () => ['train', '--model', TINY, '--data', SLICE, '--ctx', '64', '--steps', '1', '--sparsity', 'lemo', '--predictors', predictors('nolayers', { layers: null }), '--out', join(dir, 'o')], /nolayers\.safetensors: the predictors description in its header is malformed \(layers: /],
    ['a warm-up as long as the run', () => ['train', '--model', TINY, '--data', SLICE, '--ctx', '64', '--steps', '2', '--sparsity', 'dense', '--warmup', '2', '--out', join(dir, 'o')], /A warm-up of 2 steps leaves nothing of a 2-step run at the full learning rate; use fewer warm-up steps \(--warmup\)\./],
    ['a negative learning rate', () => ['train', '--model', TINY, '--data', SLICE, '--ctx', '64', '--steps', '1', '--sparsity', 'dense', '--lr', '-1', '--out', join(dir, 'o')], /The learning rate \(--lr\) must be a positive number such as 0\.001, got -1\./],
    ['a RoPE scale of 0 to load with', () => ['eval', '--model', TINY, '--data', SLICE, '--ctx', '64', '--rope-scale', '0'], /The RoPE scale asked for \(--rope-scale\) is 0, but a linear RoPE scale must be a positive number up to 1024/],
    ['a RoPE scale of 0 to export', () => ['export', '--model', TINY, '--adapter', adapter('lora'), '--out', join(dir, 'merged'), '--rope-scale', '0'], /The RoPE scale to write into config\.json \(--rope-scale\) is 0/],
    ['a RoPE factor of 1e308 in config.json', () => ['eval', '--model', folder('huge-rope', { 'config.json': JSON.stringify({ ...json(`${TINY}/config.json`), rope_parameters: { rope_type: 'linear', factor: 1e308, rope_theta: 10000 } }) }), '--data', SLICE, '--ctx', '64'], /RoPE scaling factor in config\.json \(rope_parameters\.factor\) is 1e\+308/],
    ['a block longer than the context', () => ['train', '--model', TINY, '--data', SLICE, '--ctx', '64', '--steps', '1', '--sparsity', 'oracle', '--block', '10000', '--out', join(dir, 'o')], /The block size \(--block\) is 10000 tokens, longer than the 64-token sequences it splits into blocks: use a block of at most 64 tokens/],
    ['predictors trained at a block longer than the context', () => ['predictors', 'train', '--model', TINY, '--data', SLICE, '--heldout', SLICE, '--ctx', '64', '--steps', '1', '--block', '128', '--out', join(dir, 'p.safetensors')], /The block size \(--block\) is 128 tokens, longer than the 64-token sequences/],
    ["predictors' blocks longer than the context", () => ['predictors', 'eval', '--model', TINY, '--heldout', SLICE, '--ctx', '16', '--windows', '1'], /The predictors' block size is 32 tokens, longer than the 16-token sequences/],
    ['a batch far beyond the memory', () => ['train', '--model', TINY, '--data', SLICE, '--ctx', '256', '--steps', '1', '--sparsity', 'dense', '--batch', '1000', '--memory-budget', '4', '--out', join(dir, 'o')], /A step of 1000 × 256 tokens would keep about 27\.5 GiB of activations for its backward, .* but 4\.0 GiB is available \(--memory-budget\): lower the batch \(--batch\) or the context \(--ctx\)\./],
  ];
  for (const [what, args, message] of cases) {
    it(what, () => {
      const r = lemo(args());
      expect(r.stderr).toMatch(new RegExp(`^lemo: .*${message.source}`, 'm'));
      expect(r.stderr).not.toMatch(/internal error|    at /);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(/^step \d+\//m);
    });
  }

  it.skipIf(process.getuid?.() === 0)('train --out in a read-only folder (root writes anywhere, so not as root)', () => {
    const ro = folderAt('read-only');
    chmodSync(ro, 0o555);
    const r = lemo(train('--out', join(ro, 'adapter')));
    expect(r.stderr).toMatch(/^lemo: --out .*read-only\/adapter cannot be made: .*read-only is read-only here; give a place this user can write to\./m);
    expect(r.status).toBe(2);
    expect(r.stderr).not.toMatch(/^step \d+\//m);
  });

  it('export --out the base model\'s folder, or a link to it, is refused and the base weights stay', () => {
    const base = join(dir, 'base');
    cpSync(GQA, base, { recursive: true });
    symlinkSync(base, join(dir, 'base-link'));
    const before = read(join(base, 'model.safetensors'));
    for (const out of [base, join(dir, 'base-link'), join(base, 'sub', '..')]) {
      const r = lemo(['export', '--adapter', 'test/fixtures/golden/llama-gqa/adapter', '--model', base, '--out', out]);
      expect(r.stderr).toContain(`lemo: --out ${out} is the base model's folder (${base}): writing there would overwrite its weights, so give another folder.`);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
    }
    expect(Buffer.compare(read(join(base, 'model.safetensors')), before)).toBe(0);
    // Another folder is written.
    const ok = lemo(['export', '--adapter', 'test/fixtures/golden/llama-gqa/adapter', '--model', base, '--out', join(dir, 'merged')]);
    expect(ok.status).toBe(0);
    expect(existsSync(join(dir, 'merged', 'model.safetensors'))).toBe(true);
  });

  it('an unknown option, a missing argument or value, and an unknown command exit 2 as well; help exits 0', () => {
    const ids = data('ids.json', '{"input_ids": [[1, 2, 3, 4]]}');
    const usage: [string[], RegExp][] = [
      [['train', '--out', join(dir, 'o'), '--bogus'], /error: unknown option '--bogus'/],
      [['grad', '--model', TINY, '--tokens', ids, '--out', join(dir, 'g.safetensors'), '--keep'], /error: option '--keep <file>' argument missing/],
      [['eval', '--data', SLICE], /error: required option '--ctx <n>' not specified/],
      [['predictors', 'train', '--ctx', '64', '--steps', '1', '--out', join(dir, 'p'), '--arch', 'round'], /error: option '--arch <shape>' argument 'round' is invalid/],
      [['tarin'], /error: unknown command 'tarin'/],
    ];
    for (const [args, message] of usage) {
      const r = lemo(args);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.status, args.join(' ')).toBe(2);
    }
    const help = lemo(['train', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--memory-budget/);
  });
});

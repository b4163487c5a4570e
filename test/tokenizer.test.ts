// The tokenizer's word path (src/engine/model/tokenizer.ts byWords) against the library encoding
// each text whole: the same ids on the shipped models' books and on texts made to find the seams
// (contractions, digits, scripts, runs of spaces, an added token inside the text).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { loadTokenizer } from '../src/engine/model/tokenizer';
import { decodeDataset, parseDataset } from '../src/engine/train/data';

const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const books = (name: string) => parseDataset(name, decodeDataset(name, new Uint8Array(readFileSync(`public/data/books-short/${name}`)))).map((d) => d.text);

const EDGES = [
  '',
  ' ',
  '\n\n\n',
  "It's the dog's bone; they'll say we'd've gone, I'm sure. DON'T 'Tis",
  'numbers 12345 3.14159 -7e10 1,000,000 and 2024-12-02T16:00',
  'tabs\tand\t\tspaces   between    words  \n  indented\n\ttabbed  ',
  'Ünïcödé naïve café — “quotes” ‘single’ … emoji 😀👍🏽 and 漢字かなカナ 한국어 العربية עברית',
  'a  b   c    d\u00a0e\u2003f',
  'text before<|endoftext|>text after',
  '<|endoftext|>',
  '  leading and trailing spaces  ',
  "'''''''' ''s 's's",
  'x'.repeat(500) + ' ' + 'ab'.repeat(300),
];

describe('the tokenizer, word by word', () => {
  for (const model of ['lemo-books', 'lemo-tiny']) {
    it(`gives the library's ids for ${model} on the books and on texts at the seams`, () => {
      const dir = `public/models/${model}`;
      const [j, c] = [json(`${dir}/tokenizer.json`), json(`${dir}/tokenizer_config.json`)];
      const lib = new Tokenizer(j, c);
      const ours = loadTokenizer(j, c);
      const texts = [...books('train.jsonl.gz').map((t) => t.slice(0, 20_000)), ...books('heldout.jsonl.gz').map((t) => t.slice(0, 10_000)), ...EDGES];
      for (const t of texts) expect(ours.encode(t), JSON.stringify(t.slice(0, 40))).toEqual(lib.encode(t, { add_special_tokens: false }).ids);
      // Twice: the second time from the word cache.
      for (const t of EDGES) expect(ours.encode(t)).toEqual(lib.encode(t, { add_special_tokens: false }).ids);
    });
  }

  it('leaves a tokenizer with a normalizer or another pre-tokenizer to the library whole', () => {
    const j = json('public/models/lemo-tiny/tokenizer.json');
    for (const changed of [{ ...j, normalizer: { type: 'Lowercase' } }, { ...j, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true } }]) {
      const lib = new Tokenizer(changed, {});
      const ours = loadTokenizer(changed);
      for (const t of EDGES) expect(ours.encode(t)).toEqual(lib.encode(t, { add_special_tokens: false }).ids);
    }
  });
});

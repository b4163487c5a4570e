// tokenizer.json through @huggingface/tokenizers (the same byte-level BPE as Python's).
import { Tokenizer } from '@huggingface/tokenizers';
import { UserError } from '../errors';

export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
  vocabSize: number;
}

export function loadTokenizer(json: unknown, config: unknown = {}): TextTokenizer {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json as object, config as object);
  } catch (e) {
    throw new UserError(`tokenizer.json could not be loaded: ${(e as Error).message}`);
  }
  const model = (json as { model?: { vocab?: Record<string, number> | unknown[] } }).model;
  const added = (json as { added_tokens?: { id: number }[] }).added_tokens ?? [];
  const vocab = model?.vocab;
  const base = Array.isArray(vocab) ? vocab.length : vocab ? Math.max(...Object.values(vocab as Record<string, number>)) + 1 : 0;
  const vocabSize = Math.max(base, ...added.map((t) => t.id + 1));
  return {
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tok.decode(ids),
    vocabSize,
  };
}

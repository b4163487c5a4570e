// tokenizer.json through @huggingface/tokenizers (the same byte-level BPE as Python's).
import { Tokenizer } from '@huggingface/tokenizers';
import { UserError } from '../errors';

export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
  vocabSize: number;
}

/** The folder's tokenizer, refused when it has more tokens than the model's vocabulary. */
export function modelTokenizer(json: unknown, config: unknown, modelVocab: number): TextTokenizer {
  const tokenizer = loadTokenizer(json, config);
  if (tokenizer.vocabSize > modelVocab) {
    throw new UserError(`tokenizer.json has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${modelVocab}: they do not belong together.`);
  }
  return tokenizer;
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

/**
 * Token ids per text, remembered: a shell counts a dataset's tokens when it loads, then trains
 * on it, and the text is not encoded again. Treat the ids as read-only.
 */
export class TokenCache {
  private ids = new Map<string, number[]>();
  private tokens = 0;

  constructor(readonly tokenizer: TextTokenizer) {}

  encode(text: string): number[] {
    let ids = this.ids.get(text);
    if (!ids) {
      ids = this.tokenizer.encode(text);
      // Bounded: past 4 M cached tokens the cache starts over.
      if (this.tokens + ids.length > 4_000_000) {
        this.ids.clear();
        this.tokens = 0;
      }
      this.ids.set(text, ids);
      this.tokens += ids.length;
    }
    return ids;
  }
}

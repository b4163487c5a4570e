// tokenizer.json through @huggingface/tokenizers (the same byte-level BPE as Python's).
import { Tokenizer } from '@huggingface/tokenizers';
import { UserError } from '../errors';
import { hasNestedQuantifier, tokenizerRegexes } from './regex-check';

export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
  vocabSize: number;
}

/**
 * The folder's tokenizer, refused when it does not belong to the model: more tokens than the
 * model's vocabulary (ids past its embedding), or fewer than half of it. Models pad vocab_size
 * above their tokenizer's size (Qwen2.5: 151,665 tokens for 151,936 rows), but never to twice it.
 */
export function modelTokenizer(json: unknown, config: unknown, modelVocab: number): TextTokenizer {
  const tokenizer = loadTokenizer(json, config);
  if (tokenizer.vocabSize > modelVocab || tokenizer.vocabSize < modelVocab / 2) {
    throw new UserError(`tokenizer.json has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${modelVocab}: they do not belong together.`);
  }
  return tokenizer;
}

/** The parts of a tokenizer.json that may hold regular expressions (its model holds only the vocabulary). */
const REGEX_PARTS = ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'];

/** Refuses a tokenizer.json regular expression with nested repetition, which can take forever on some text. */
function checkRegexes(json: unknown): void {
  for (const part of REGEX_PARTS) {
    for (const r of tokenizerRegexes((json as Record<string, unknown> | null)?.[part], part)) {
      if (hasNestedQuantifier(r.pattern)) {
        throw new UserError(
          `tokenizer.json's ${r.path} has the regular expression ${JSON.stringify(r.pattern)}, whose repeated group repeats inside too: ` +
            'matching it can take forever on some text, so rewrite it without a repetition inside a repeated group.',
        );
      }
    }
  }
}

export function loadTokenizer(json: unknown, config: unknown = {}): TextTokenizer {
  checkRegexes(json);
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json as object, config as object);
  } catch (e) {
    throw new UserError(`tokenizer.json could not be loaded: ${(e as Error).message}`);
  }
  const model = (json as { model?: { vocab?: Record<string, number> | unknown[] } }).model;
  const added = (json as { added_tokens?: { id: number; content?: string }[] }).added_tokens ?? [];
  const vocab = model?.vocab;
  // A loop, not Math.max(...ids): a spread of 150 k ids (Qwen's vocabulary) overflows the stack.
  const base = Array.isArray(vocab) ? vocab.length : vocab ? Object.values(vocab as Record<string, number>).reduce((m, id) => Math.max(m, id + 1), 0) : 0;
  const vocabSize = added.reduce((m, t) => Math.max(m, t.id + 1), base);
  const whole = (text: string) => tok.encode(text, { add_special_tokens: false }).ids;
  return { encode: byWords(json, config, added, whole) ?? whole, decode: (ids) => tok.decode(ids), vocabSize };
}

/** GPT-2's byte-level split: what a ByteLevel pre-tokenizer with use_regex cuts text into before BPE. */
const BYTE_LEVEL_WORDS = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
/** Distinct words remembered before the cache starts again (a few MB of ids). */
const WORD_CACHE = 200_000;

/**
 * For a plain byte-level BPE (no normalizer, a ByteLevel pre-tokenizer that splits by its regex
 * and adds no prefix space), an encoder that cuts the text into the pre-tokenizer's words and has
 * the library encode each distinct word once: BPE never merges across words, so the ids are the
 * library's own (test/tokenizer.test.ts checks them against it), in about 2.6 times less time on
 * books. A text holding an added token's string, and every other tokenizer, go to the library whole.
 */
function byWords(json: unknown, config: unknown, added: { content?: string }[], whole: (text: string) => number[]): ((text: string) => number[]) | null {
  const j = json as { normalizer?: unknown; pre_tokenizer?: { type?: string; add_prefix_space?: boolean; use_regex?: boolean } | null };
  const pre = j.pre_tokenizer;
  if (j.normalizer || pre?.type !== 'ByteLevel' || pre.add_prefix_space || pre.use_regex === false) return null;
  // tokenizer_config.json settings that rewrite the whole text first.
  const settings = (config ?? {}) as { remove_space?: unknown; do_lowercase_and_remove_accent?: unknown };
  if (settings.remove_space || settings.do_lowercase_and_remove_accent) return null;
  const specials = added.map((t) => t.content ?? '').filter((c) => c.length > 0);
  const words = new Map<string, number[]>();
  return (text) => {
    if (specials.some((c) => text.includes(c))) return whole(text);
    const out: number[] = [];
    for (const w of text.match(BYTE_LEVEL_WORDS) ?? []) {
      let ids = words.get(w);
      if (!ids) {
        if (words.size >= WORD_CACHE) words.clear();
        words.set(w, (ids = whole(w)));
      }
      for (const id of ids) out.push(id);
    }
    return out;
  };
}

/** How often a long tokenization says how far it is. */
export const PROGRESS_MS = 2000;

/**
 * Token ids per text, remembered: a shell counts a dataset's tokens when it loads, then trains
 * on it, and the text is not encoded again. Treat the ids as read-only.
 */
export class TokenCache {
  private ids = new Map<string, number[]>();
  private tokens = 0;

  constructor(readonly tokenizer: TextTokenizer) {}

  /**
   * Token ids of each text; when this takes longer than `every` ms, `progress` hears the
   * characters done of the total every `every` ms (between texts), and once more at the end.
   */
  encodeAll(texts: string[], progress?: (done: number, total: number) => void, every = PROGRESS_MS): number[][] {
    const total = texts.reduce((n, t) => n + t.length, 0);
    let [done, last, told] = [0, performance.now(), false];
    const out = texts.map((t) => {
      const ids = this.encode(t);
      done += t.length;
      if (progress && performance.now() - last >= every) {
        [last, told] = [performance.now(), true];
        progress(done, total);
      }
      return ids;
    });
    if (told) progress!(total, total);
    return out;
  }

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

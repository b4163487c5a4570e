// Perplexity as tools/default-model/eval_ppl.py computes it: each document on its own, cut
// into consecutive chunks of ctx tokens (a last chunk of at least 2 tokens counts), every
// next-token prediction inside a chunk summed: ppl = exp(Σ nll / Σ predicted tokens).
import { UserError } from '../errors';
import type { Trainer } from '../train/trainer';

export interface EvalResult {
  perplexity: number;
  /** Mean negative log-likelihood per predicted token (nats). */
  loss: number;
  tokens: number;
}

export async function perplexity(trainer: Trainer, docs: number[][], ctx: number, onChunk?: (done: number, total: number) => void): Promise<EvalResult> {
  const chunks = evalChunks(docs, ctx);
  let nll = 0;
  let tokens = 0;
  for (const [i, c] of chunks.entries()) {
    const r = await trainer.nll([c]);
    nll += r.nll;
    tokens += r.tokens;
    onChunk?.(i + 1, chunks.length);
  }
  const loss = nll / tokens;
  return { perplexity: Math.exp(loss), loss, tokens };
}

/** The chunks perplexity() evaluates: each document cut at ctx tokens, chunks of 2 or more. */
export function evalChunks(docs: number[][], ctx: number): number[][] {
  const chunks: number[][] = [];
  for (const d of docs) for (let s = 0; s < d.length; s += ctx) if (d.length - s >= 2) chunks.push(d.slice(s, s + ctx));
  return chunks;
}

/** The first `count` chunks of ctx tokens of held-out documents, tokenized one by one until there are enough. */
export function heldoutChunks(docs: { text: string; name: string }[], count: number, ctx: number, tokenize: (d: { text: string; name: string }) => number[]): number[][] {
  const out: number[][] = [];
  for (const d of docs) {
    const ids = tokenize(d);
    for (let s = 0; s + 2 <= ids.length && out.length < count; s += ctx) out.push(ids.slice(s, s + ctx));
    if (out.length >= count) break;
  }
  if (out.length === 0) throw new UserError('The held-out text has no two tokens to evaluate on.');
  return out;
}

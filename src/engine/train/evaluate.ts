// Perplexity as tools/default-model/eval_ppl.py computes it: each document on its own, cut
// into consecutive chunks of ctx tokens (a last chunk of at least 2 tokens counts), every
// next-token prediction inside a chunk summed: ppl = exp(Σ nll / Σ predicted tokens).
import type { Trainer } from './trainer';

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

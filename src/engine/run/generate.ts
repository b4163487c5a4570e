// Text continuation with the model and its adapter: a prefill over the prompt by query segments,
// then one token at a time, each layer's keys and values kept (a KV cache) so a new token costs
// one row per layer. Greedy at temperature 0, else nucleus (top-p) sampling, seeded.
import { UserError } from '../errors';
import { GraphBuilder } from '../graph/builder';
import { int64s, type Graph } from '../graph/ir';
import { contextReach, type ModelConfig } from '../model/config';
import { chunkLogits, normRows } from '../model/head';
import { buildSegment } from '../model/layer-parts';
import { scatterAddRows } from '../graph/ops/indexing';
import type { TextTokenizer } from '../model/tokenizer';
import type { Runtime, Tensor } from '../runtime/runtime';
import { mulberry32 } from '../train/random';
import type { Trainer } from '../train/trainer';

export interface GeneratePlan {
  /** Tokens to add at most. */
  maxTokens: number;
  /** 0: greedy (the most likely token); else the logits are divided by it before sampling. */
  temperature: number;
  /** Nucleus sampling: the smallest set of tokens whose probability reaches this share. */
  topP: number;
  seed: number;
  /** Token ids that end the text (the model's end of sequence). */
  stop: number[];
}

/** The end-of-sequence ids a config.json names (eos_token_id: one id or a list). */
export function stopIds(config: unknown): number[] {
  const eos = (config as { eos_token_id?: unknown } | null)?.eos_token_id;
  const ids = Array.isArray(eos) ? eos : [eos];
  return ids.filter((x): x is number => Number.isInteger(x));
}

/** Called with each new token; returning false stops. */
export type OnToken = (id: number, logits: Float32Array) => boolean | void;

/** Query rows per prefill segment (bounds the segment × prompt score map). */
const PREFILL_ROWS = 512;

interface DecodeGraphs {
  logits: Graph;
  append: Graph;
  first: Graph;
  rest: Graph;
}

const graphCache = new WeakMap<ModelConfig, DecodeGraphs>();

/** Final norm and one vocabulary chunk w (N, C) of the LM head at the rows given: logits (B*S, N). */
function buildLogits(cfg: ModelConfig): Graph {
  const b = new GraphBuilder(`${cfg.family}_logits`);
  b.output(chunkLogits(b, normRows(b, cfg, 'float32'), b.input('w', 'float32', ['N', cfg.hidden])), 'logits');
  return b.build();
}

/** A layer's cache (B, KV, R, D), zero past what is written, with new rows (B, KV, N, D) written at `at` (N). */
function buildAppend(cfg: ModelConfig): Graph {
  const b = new GraphBuilder('kv_write');
  const cache = b.input('cache', 'float32', ['B', cfg.kvHeads, 'R', cfg.headDim]);
  const rows = b.input('rows', 'float32', ['B', cfg.kvHeads, 'N', cfg.headDim]);
  b.output(scatterAddRows(b, cache, b.input('at', 'int64', ['N']), rows, 2), 'out');
  return b.build();
}

function graphsOf(cfg: ModelConfig): DecodeGraphs {
  let g = graphCache.get(cfg);
  if (!g) {
    g = { logits: buildLogits(cfg), append: buildAppend(cfg), first: buildSegment(cfg, 'float32', true).build(), rest: buildSegment(cfg, 'float32', false).build() };
    graphCache.set(cfg, g);
  }
  return g;
}

const ints = (rt: Runtime, xs: number[]) => rt.tensor('int64', int64s(xs.length, (i) => xs[i]), [xs.length]);
const floats = (rt: Runtime, xs: number[]) => rt.tensor('float32', Float32Array.from(xs), [xs.length]);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** The next token from logits: the largest at temperature 0, else a draw from the top-p nucleus. */
export function pickToken(logits: Float32Array, plan: Pick<GeneratePlan, 'temperature' | 'topP'>, random: () => number): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (plan.temperature <= 0) return best;
  const z = Array.from(logits, (l, i) => ({ i, p: Math.exp((l - logits[best]) / plan.temperature) }));
  const total = z.reduce((s, x) => s + x.p, 0);
  z.sort((a, b) => b.p - a.p);
  const nucleus: typeof z = [];
  let mass = 0;
  for (const x of z) {
    nucleus.push(x);
    mass += x.p / total;
    if (mass >= plan.topP) break;
  }
  let r = random() * nucleus.reduce((s, x) => s + x.p, 0);
  for (const x of nucleus) if ((r -= x.p) <= 0) return x.i;
  return nucleus[nucleus.length - 1].i;
}

/** One sequence through every layer at the given positions, growing each layer's cache; h is freed. */
async function throughLayers(trainer: Trainer, g: DecodeGraphs, h: Tensor, positions: number[], cache: { k: Tensor; v: Tensor }[]): Promise<Tensor> {
  const rt = trainer.rt;
  const start = positions[0];
  for (let l = 0; l < trainer.model.config.layers; l++) {
    const part = await trainer.plainLayer(l);
    const rope = await trainer.dm.ropeFor(positions);
    const pre = await rt.run(part.pre, { ...part.feeds, ...(rope ?? {}), h });
    const at = ints(rt, positions);
    for (const kv of ['k', 'v'] as const) {
      const written = (await rt.run(g.append, { cache: cache[l][kv], rows: pre[kv], at })).out;
      [rt.dispose(cache[l][kv]), rt.dispose(pre[kv])];
      cache[l][kv] = written;
    }
    let o: Tensor | undefined;
    for (let s = 0; s < positions.length; s += PREFILL_ROWS) {
      const e = Math.min(positions.length, s + PREFILL_ROWS);
      const feeds = { q: pre.q, k: cache[l].k, v: cache[l].v, qrows: ints(rt, range(s, e)), krows: ints(rt, range(0, start + e)), qpos: floats(rt, positions.slice(s, e)), kpos: floats(rt, range(0, start + e)), ...(o ? { o_acc: o } : {}) };
      const next = (await rt.run(o ? g.rest : g.first, feeds)).o;
      if (o) rt.dispose(o);
      o = next;
    }
    const out = (await rt.run(part.post, { ...part.feeds, h, o: o! })).out;
    part.release();
    for (const t of [h, pre.q, o!, rope?.cos, rope?.sin]) if (t) rt.dispose(t);
    h = out;
  }
  return h;
}

/** Logits (V) of the last row of h, a vocabulary chunk at a time. */
async function lastLogits(trainer: Trainer, g: DecodeGraphs, h: Tensor, rows: number): Promise<Float32Array> {
  const rt = trainer.rt;
  const logits = new Float32Array(trainer.model.config.vocabSize);
  const feeds = { ...trainer.dm.normFeeds(), h, rows: ints(rt, [rows - 1]) };
  for (const [v0, v1] of trainer.headChunks()) {
    const w = await trainer.dm.headRows(v0, v1);
    const out = (await rt.run(g.logits, { ...feeds, w })).logits;
    trainer.dm.releaseHeadRows(w);
    logits.set((await rt.read(out)) as Float32Array, v0);
    rt.dispose(out);
  }
  return logits;
}

/**
 * The prompt through the model, then token after token: `next` hears the logits after the last
 * token and gives the next id, or null to end. Returns the ids added.
 */
export async function decode(trainer: Trainer, prompt: number[], next: (logits: Float32Array) => number | null, capacity: number): Promise<number[]> {
  const reach = contextReach(trainer.model.config);
  if (prompt.length === 0) throw new UserError('The prompt is empty: give some text to continue.');
  if (prompt.length >= reach) throw new UserError(`The prompt has ${prompt.length} tokens; this model reaches ${reach} positions, so shorten it.`);
  const g = graphsOf(trainer.model.config);
  const rt = trainer.rt;
  const embed = async (ids: number[], positions: number[]) => {
    const feeds = await trainer.dm.embedFeedsAt(ids, positions);
    return (await rt.run(trainer.dm.embedGraph, feeds).finally(() => trainer.dm.releaseWeights(feeds))).h;
  };
  const { layers, kvHeads, headDim } = trainer.model.config;
  const R = Math.min(reach, Math.max(capacity, prompt.length + 1));
  const zeros = () => rt.tensor('float32', new Float32Array(kvHeads * R * headDim), [1, kvHeads, R, headDim]);
  const cache = Array.from({ length: layers }, () => ({ k: zeros(), v: zeros() }));
  const out: number[] = [];
  try {
    let h = await throughLayers(trainer, g, await embed(prompt, range(0, prompt.length)), range(0, prompt.length), cache);
    for (let p = prompt.length; ; p++) {
      const logits = await lastLogits(trainer, g, h, p === prompt.length ? prompt.length : 1);
      rt.dispose(h);
      // A turn of the event loop per token, so a stop asked for meanwhile (a worker message) is heard.
      await new Promise((resolve) => setTimeout(resolve, 0));
      const id = next(logits);
      if (id === null) break;
      out.push(id);
      if (p + 1 >= R) break;
      h = await throughLayers(trainer, g, await embed([id], [p]), [p], cache);
    }
  } finally {
    for (const c of cache) [rt.dispose(c.k), rt.dispose(c.v)];
  }
  return out;
}

/** Continues `prompt` (token ids) by up to plan.maxTokens tokens, ending at a stop id or when onToken says so. */
export async function generate(trainer: Trainer, prompt: number[], plan: GeneratePlan, onToken: OnToken = () => {}): Promise<number[]> {
  const random = mulberry32(plan.seed);
  let count = 0;
  let ended = false;
  return decode(trainer, prompt, (logits) => {
    if (ended || count >= plan.maxTokens) return null;
    const id = pickToken(logits, plan, random);
    count++;
    ended = onToken(id, logits) === false || plan.stop.includes(id);
    return id;
  }, prompt.length + plan.maxTokens);
}

/** generate on text: onText hears the continuation so far after each token (the stop ids left out); returns it. */
export async function generateText(trainer: Trainer, tokenizer: TextTokenizer, prompt: string, plan: GeneratePlan, onText: (text: string) => boolean | void): Promise<string> {
  const ids: number[] = [];
  await generate(trainer, tokenizer.encode(prompt), plan, (id) => {
    if (!plan.stop.includes(id)) ids.push(id);
    return onText(tokenizer.decode(ids));
  });
  return tokenizer.decode(ids);
}

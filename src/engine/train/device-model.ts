// A model's frozen weights on the runtime's device (2-byte ones widened only while a graph reads
// them: frozen.ts; lookup tables over one device buffer in chunks of rows: tables.ts), with the
// per-length inputs every layer shares (rotary tables) and the feeds of the embedding and head graphs.
import { int64s, type Graph } from '../graph/ir';
import { buildEmbed } from '../model/architecture';
import type { Model } from '../model/model';
import { checkWindow, type Rope } from '../model/config';
import { ropeTables } from '../model/rope';
import type { Runtime, Tensor } from '../runtime/runtime';
import { UserError } from '../errors';
import { FrozenStore, type Frozen } from './frozen';
import { LookupTable } from './tables';

export class DeviceModel {
  private readonly layers: Map<string, Frozen>[] = [];
  private embedTable!: LookupTable;
  private wpe: LookupTable | null = null;
  /** The LM head (V, C), vocab-major: the embedding table itself when tied. */
  private headTable!: LookupTable;
  /** The final norm's weights by graph input name (float32). */
  private readonly head = new Map<string, Frozen>();
  readonly embedGraph: Graph;
  /** Rotary tables of positions 0..n-1 on the host, for ropeRows. */
  private ropeHost: { key: string; n: number; cos: Float32Array; sin: Float32Array } | null = null;

  private constructor(readonly rt: Runtime, readonly model: Model, private readonly store: FrozenStore) {
    this.embedGraph = buildEmbed(model.config, 'float32').build();
  }

  /**
   * The model's weights on the runtime's device. A lookup table (embedding, LM head, positions)
   * larger than one device buffer may hold (Runtime.bufferLimit) is stored in chunks of rows.
   */
  static async upload(rt: Runtime, model: Model): Promise<DeviceModel> {
    const half = [model.embed, model.lmHead, ...model.layers.flatMap((w) => [...w.values()])].some((h) => h.half);
    const d = new DeviceModel(rt, model, new FrozenStore(rt, half ? await rt.kernels() : null));
    const limit = await rt.readBufferLimit();
    for (const layer of model.layers) {
      const w = new Map<string, Frozen>();
      for (const [name, h] of layer) w.set(name, await d.store.put(h));
      d.layers.push(w);
    }
    d.embedTable = await LookupTable.put(rt, d.store, model.embed, limit);
    if (model.positions) d.wpe = await LookupTable.put(rt, d.store, model.positions, limit);
    for (const [name, h] of model.finalNorm) d.head.set(name, await d.store.put(h));
    d.headTable = model.lmHead === model.embed ? d.embedTable : await LookupTable.put(rt, d.store, model.lmHead, limit);
    return d;
  }

  /** The rows [start, end) of each stored chunk of the LM head's table (one: stored whole). */
  get headTableChunks(): [number, number][] {
    return this.headTable.chunks;
  }

  /**
   * The LM head's rows [v0, v1) as float32 (v1 − v0, C), for one vocabulary chunk: a chunk the
   * table is stored in (or all of it) as it is, widened when stored in 2 bytes; other rows copied
   * (tables.ts LookupTable.rows). releaseHeadRows() after use.
   */
  headRows(v0: number, v1: number): Promise<Tensor> {
    return this.headTable.rows(v0, v1);
  }

  /** Gives back what headRows lent. */
  releaseHeadRows(t: Tensor): void {
    this.headTable.release(t);
  }

  /** Validates a batch of token ids: equal lengths, ids in the vocabulary, positions the model has. */
  checkBatch(ids: number[][]): { B: number; T: number } {
    const B = ids.length;
    const T = ids[0]?.length ?? 0;
    if (B === 0 || T < 2) throw new UserError('A batch needs at least one sequence of at least 2 tokens.');
    if (ids.some((s) => s.length !== T)) throw new UserError('All sequences of a batch must have the same length.');
    const cfg = this.model.config;
    for (const s of ids) for (const id of s) if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) throw new UserError(`Token id ${id} is outside the model's vocabulary (0..${cfg.vocabSize - 1}).`);
    if (!cfg.rope && T > cfg.maxPositions) throw new UserError(`${T} tokens exceed this GPT-2 model's ${cfg.maxPositions} learned positions.`);
    checkWindow(cfg, T);
    return { B, T };
  }

  /** The embedding graph's feeds for ids (B, T) at positions (T); releaseWeights() frees what they widened. */
  private async lookupFeeds(ids: number[][], positions: number[]): Promise<Record<string, Tensor>> {
    const rt = this.rt;
    const { table, at } = await this.embedTable.lookup(ids.flat());
    const feeds: Record<string, Tensor> = { ids: rt.tensor('int64', at, [ids.length, ids[0].length]), embed: table };
    if (this.wpe) {
      const p = await this.wpe.lookup(positions);
      [feeds.positions, feeds.wpe] = [rt.tensor('int64', p.at, [positions.length]), p.table];
    }
    return feeds;
  }

  /** Embedding feeds of a batch; releaseWeights(feeds) after the run. */
  embedFeeds(ids: number[][]): Promise<Record<string, Tensor>> {
    const { T } = this.checkBatch(ids);
    return this.lookupFeeds(ids, Array.from({ length: T }, (_, i) => i));
  }

  /** Embedding feeds of one sequence whose tokens sit at the given positions (generation, one token at a time). */
  embedFeedsAt(ids: number[], positions: number[]): Promise<Record<string, Tensor>> {
    const cfg = this.model.config;
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) throw new UserError(`Token id ${id} is outside the model's vocabulary (0..${cfg.vocabSize - 1}).`);
    return this.lookupFeeds([ids], positions);
  }

  /** Rotary tables (K, D) for the given original positions, on the device (Llama family). */
  async ropeFor(positions: ArrayLike<number>): Promise<{ cos: Tensor; sin: Tensor } | null> {
    const cfg = this.model.config;
    if (!cfg.rope) return null;
    const r = this.ropeRows(positions, cfg.headDim, cfg.rope);
    const up = async (data: Float32Array) => {
      const x = await this.rt.upload(this.rt.tensor('float32', data, [positions.length, cfg.headDim]));
      this.rt.memory.track(x, 'activations');
      return x;
    };
    return { cos: await up(r.cos), sin: await up(r.sin) };
  }

  /**
   * Rotary tables of the given positions, copied out of tables of positions 0..n-1 kept on the
   * host (made again, larger by powers of two, when a position lies past them or the rope
   * settings change): a token-eliminating layer's kept rows cost a copy, not a cosine each.
   */
  private ropeRows(positions: ArrayLike<number>, D: number, rope: Rope): { cos: Float32Array; sin: Float32Array } {
    let max = 0;
    for (let i = 0; i < positions.length; i++) {
      if (!Number.isInteger(positions[i]) || positions[i] < 0) return ropeTables(positions, D, rope);
      max = Math.max(max, positions[i]);
    }
    const key = JSON.stringify(rope);
    let h = this.ropeHost;
    if (!h || h.key !== key || h.n <= max) {
      const n = 2 ** Math.ceil(Math.log2(Math.max(1024, max + 1)));
      h = this.ropeHost = { key, n, ...ropeTables(Array.from({ length: n }, (_, i) => i), D, rope) };
    }
    const cos = new Float32Array(positions.length * D);
    const sin = new Float32Array(positions.length * D);
    for (let i = 0; i < positions.length; i++) {
      const at = positions[i] * D;
      cos.set(h.cos.subarray(at, at + D), i * D);
      sin.set(h.sin.subarray(at, at + D), i * D);
    }
    return { cos, sin };
  }

  /** Frees the weights on the device (another model replaces this one). */
  dispose(): void {
    for (const f of [...this.layers.flatMap((w) => [...w.values()]), ...this.head.values()]) this.store.dispose(f);
    for (const t of new Set([this.embedTable, this.headTable, this.wpe])) t?.dispose();
    this.layers.length = 0;
    this.head.clear();
  }

  /** Weights of one layer by graph input name, in float32 (2-byte ones widened now): releaseWeights() after its runs. */
  async layerWeights(layer: number): Promise<Record<string, Tensor>> {
    const out: Record<string, Tensor> = {};
    for (const [name, f] of this.layers[layer]) out[name] = await this.store.widen(f);
    return out;
  }

  /** Runs `use` with a layer's weights in float32, releasing what was widened for it after, also on a failure. */
  async withLayerWeights<T>(layer: number, use: (weights: Record<string, Tensor>) => Promise<T>): Promise<T> {
    const weights = await this.layerWeights(layer);
    try {
      return await use(weights);
    } finally {
      this.releaseWeights(weights);
    }
  }

  /** The layer's weights stored in float32 (its norms always among them), as they are: nothing to release. */
  floatWeights(layer: number): Record<string, Tensor> {
    return Object.fromEntries([...this.layers[layer]].flatMap(([n, f]) => ('f32' in f ? [[n, f.f32]] : [])));
  }

  /** The final norm's weights by graph input name (stored in float32: nothing to release). */
  normFeeds(): Record<string, Tensor> {
    return Object.fromEntries([...this.head].map(([n, f]) => {
      if (!('f32' in f)) throw new Error(`${n} is not stored in float32`);
      return [n, f.f32];
    }));
  }

  /** Frees the float32 copies widened for these feeds (stored weights stay). */
  releaseWeights(feeds: Record<string, Tensor>): void {
    this.store.release(Object.values(feeds));
  }

  /**
   * Host inputs of the head over rows [start, end): weight 1 at every position but each
   * sequence's last, whose next token is its target (targets: −1 where there is none).
   */
  headFeeds(ids: number[][], start: number, end: number, count: number): { feeds: Record<string, Tensor>; targets: Int32Array } {
    const B = ids.length;
    const T = ids[0].length;
    const S = end - start;
    const targets = new Int32Array(B * S).fill(-1);
    const weights = new Float32Array(B * S);
    for (let b = 0; b < B; b++) {
      for (let t = start; t < end && t < T - 1; t++) {
        targets[b * S + t - start] = ids[b][t + 1];
        weights[b * S + t - start] = 1;
      }
    }
    const rt = this.rt;
    const feeds: Record<string, Tensor> = {
      rows: rt.tensor('int64', int64s(S, (i) => start + i), [S]),
      weights: rt.tensor('float32', weights, [B, S]),
      count: rt.tensor('float32', Float32Array.of(count), []),
    };
    Object.assign(feeds, this.normFeeds());
    return { feeds, targets };
  }
}

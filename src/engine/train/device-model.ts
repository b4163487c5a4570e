// A model's frozen weights on the runtime's device (2-byte ones widened only while a graph reads
// them: frozen.ts), with the per-length inputs every layer shares (rotary tables) and the feeds
// of the embedding and head graphs.
import { GraphBuilder } from '../graph/builder';
import type { Graph } from '../graph/ir';
import { buildEmbed } from '../model/architecture';
import type { HostTensor, Model } from '../model/model';
import { checkWindow } from '../model/config';
import { ropeTables } from '../model/rope';
import type { Runtime, Tensor } from '../runtime/runtime';
import { UserError } from '../errors';
import { FrozenStore, gatherRows, type Frozen } from './frozen';
import { widenHalf } from '../model/safetensors';

export class DeviceModel {
  private readonly layers: Map<string, Frozen>[] = [];
  private embedTable!: Frozen;
  private wpe: Frozen | null = null;
  /** The LM head (V, C), vocab-major: the embedding table itself when tied. */
  private headTable!: Frozen;
  /** The final norm's weights by graph input name (float32). */
  private readonly head = new Map<string, Frozen>();
  readonly embedGraph: Graph;
  private readonly rowsGraph: Graph;

  private constructor(readonly rt: Runtime, readonly model: Model, private readonly store: FrozenStore) {
    this.embedGraph = buildEmbed(model.config, 'float32').build();
    const b = new GraphBuilder('head_rows');
    b.output(b.op1('Gather', [b.input('table', 'float32', ['V', model.config.hidden]), b.input('rows', 'int64', ['N'])], { axis: 0 }), 'out');
    this.rowsGraph = b.build();
  }

  static async upload(rt: Runtime, model: Model): Promise<DeviceModel> {
    const half = [model.embed, model.lmHead, ...model.layers.flatMap((w) => [...w.values()])].some((h) => h.half);
    const d = new DeviceModel(rt, model, new FrozenStore(rt, half ? await rt.kernels() : null));
    for (const layer of model.layers) {
      const w = new Map<string, Frozen>();
      for (const [name, h] of layer) w.set(name, await d.store.put(h));
      d.layers.push(w);
    }
    d.embedTable = await d.store.put(model.embed);
    if (model.positions) d.wpe = await d.store.put(model.positions);
    for (const [name, h] of model.finalNorm) d.head.set(name, await d.store.put(h));
    d.headTable = model.lmHead === model.embed ? d.embedTable : await d.store.put(model.lmHead);
    return d;
  }

  /**
   * The LM head's rows [v0, v1) as float32 (v1 − v0, C), for one vocabulary chunk. Stored in
   * float32: the table itself when that is all of it, a view of the host's rows on the CPU, else
   * a copy on the device (counted as activations). Stored in 2 bytes: those rows widened (the
   * whole table by the GPU's kernel when it is all of it), counted as weights. releaseHeadRows()
   * after use.
   */
  async headRows(v0: number, v1: number): Promise<Tensor> {
    const { vocabSize: V, hidden: C } = this.model.config;
    const f = this.headTable;
    if ('half' in f) {
      if (v0 === 0 && v1 === V) return this.store.widen(f);
      return this.store.own(this.rt.tensor('float32', widenHalf(f.half.host.subarray(v0 * C, v1 * C), f.half.kind), [v1 - v0, C]));
    }
    if (v0 === 0 && v1 === V) return f.f32;
    if (!this.rt.onDevice) return this.rt.tensor('float32', (this.model.lmHead.data as Float32Array).subarray(v0 * C, v1 * C), [v1 - v0, C]);
    const rows = this.rt.tensor('int64', BigInt64Array.from({ length: v1 - v0 }, (_, i) => BigInt(v0 + i)), [v1 - v0]);
    const t = (await this.rt.run(this.rowsGraph, { table: f.f32, rows })).out;
    this.rt.memory.track(t, 'activations');
    return t;
  }

  /** Gives back what headRows lent. */
  releaseHeadRows(t: Tensor): void {
    const f = this.headTable;
    if ('half' in f) this.store.release([t]);
    else if (t !== f.f32) this.rt.dispose(t);
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

  /**
   * A lookup table's rows for the given indices: the stored table when float32; from a 2-byte
   * table, only the rows asked for (widened on the host), with the indices renumbered into them.
   */
  private async lookup(f: Frozen, h: HostTensor, indices: number[]): Promise<{ table: Tensor; at: BigInt64Array }> {
    if ('f32' in f) return { table: f.f32, at: BigInt64Array.from(indices.map(BigInt)) };
    const slot = new Map<number, number>();
    for (const i of indices) if (!slot.has(i)) slot.set(i, slot.size);
    const table = await this.store.own(this.rt.tensor('float32', gatherRows(h, [...slot.keys()]), [slot.size, h.shape[1]]));
    return { table, at: BigInt64Array.from(indices.map((i) => BigInt(slot.get(i)!))) };
  }

  /** The embedding graph's feeds for ids (B, T) at positions (T); releaseWeights() frees what they widened. */
  private async lookupFeeds(ids: number[][], positions: number[]): Promise<Record<string, Tensor>> {
    const rt = this.rt;
    const { table, at } = await this.lookup(this.embedTable, this.model.embed, ids.flat());
    const feeds: Record<string, Tensor> = { ids: rt.tensor('int64', at, [ids.length, ids[0].length]), embed: table };
    if (this.wpe) {
      const p = await this.lookup(this.wpe, this.model.positions!, positions);
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
    const r = ropeTables(positions, cfg.headDim, cfg.rope);
    const up = async (data: Float32Array) => {
      const x = await this.rt.upload(this.rt.tensor('float32', data, [positions.length, cfg.headDim]));
      this.rt.memory.track(x, 'activations');
      return x;
    };
    return { cos: await up(r.cos), sin: await up(r.sin) };
  }

  /** Frees the weights on the device (another model replaces this one). */
  dispose(): void {
    const head = this.headTable === this.embedTable ? [] : [this.headTable];
    for (const f of [...this.layers.flatMap((w) => [...w.values()]), this.embedTable, ...head, ...(this.wpe ? [this.wpe] : []), ...this.head.values()]) this.store.dispose(f);
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
      rows: rt.tensor('int64', BigInt64Array.from({ length: S }, (_, i) => BigInt(start + i)), [S]),
      weights: rt.tensor('float32', weights, [B, S]),
      count: rt.tensor('float32', Float32Array.of(count), []),
    };
    Object.assign(feeds, this.normFeeds());
    return { feeds, targets };
  }
}

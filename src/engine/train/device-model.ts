// A model's frozen weights on the runtime's device (2-byte ones widened only while a graph reads
// them: frozen.ts), with the per-length inputs every layer shares (rotary tables) and the feeds
// of the embedding and head graphs.
import type { Graph } from '../graph/ir';
import { buildEmbed } from '../model/architecture';
import type { HostTensor, Model } from '../model/model';
import { checkWindow } from '../model/config';
import { ropeTables } from '../model/rope';
import type { Runtime, Tensor } from '../runtime/runtime';
import { UserError } from '../errors';
import { FrozenStore, gatherRows, type Frozen } from './frozen';

export class DeviceModel {
  private readonly layers: Map<string, Frozen>[] = [];
  private embedTable!: Frozen;
  private wpe: Frozen | null = null;
  /** The final norm's weights and lm_head, by graph input name. */
  private readonly head = new Map<string, Frozen>();
  readonly embedGraph: Graph;

  private constructor(readonly rt: Runtime, readonly model: Model, private readonly store: FrozenStore) {
    this.embedGraph = buildEmbed(model.config, 'float32').build();
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
    d.head.set('lm_head', await d.store.put(model.lmHead));
    return d;
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
    for (const f of [...this.layers.flatMap((w) => [...w.values()]), this.embedTable, ...(this.wpe ? [this.wpe] : []), ...this.head.values()]) this.store.dispose(f);
    this.layers.length = 0;
    this.head.clear();
  }

  /** Weights of one layer by graph input name, in float32 (2-byte ones widened now): releaseWeights() after its runs. */
  async layerWeights(layer: number): Promise<Record<string, Tensor>> {
    const out: Record<string, Tensor> = {};
    for (const [name, f] of this.layers[layer]) out[name] = await this.store.widen(f);
    return out;
  }

  /** The layer's weights stored in float32 (its norms always among them), as they are: nothing to release. */
  floatWeights(layer: number): Record<string, Tensor> {
    return Object.fromEntries([...this.layers[layer]].flatMap(([n, f]) => ('f32' in f ? [[n, f.f32]] : [])));
  }

  /** The head's weights (final norm, lm_head [C, V]) in float32: releaseWeights() after its runs. */
  async headWeights(): Promise<Record<string, Tensor>> {
    const out: Record<string, Tensor> = {};
    for (const [name, f] of this.head) out[name] = await this.store.widen(f);
    return out;
  }

  /**
   * Rows [v0, v1) of the output embedding, vocabulary-major (v1 − v0, hidden), in float32 (widened
   * from 2-byte storage where it is so): releaseHeadRows() after use.
   */
  headRows(v0: number, v1: number): Promise<Tensor> {
    const rows = Array.from({ length: v1 - v0 }, (_, i) => v0 + i);
    const tied = this.model.config.tiedEmbeddings;
    const data = tied ? gatherRows(this.model.embed, rows) : gatherRows(this.model.lmHead, rows, true);
    return this.store.own(this.rt.tensor('float32', data, [rows.length, this.model.config.hidden]));
  }

  releaseHeadRows(t: Tensor): void {
    this.store.release([t]);
  }

  /** Frees the float32 copies widened for these feeds (stored weights stay). */
  releaseWeights(feeds: Record<string, Tensor>): void {
    this.store.release(Object.values(feeds));
  }

  /**
   * Host inputs of the head over rows [start, end): the next token as target at every position
   * but each sequence's last (its weights come from headWeights()).
   */
  headFeeds(ids: number[][], start: number, end: number, count: number): Record<string, Tensor> {
    const B = ids.length;
    const T = ids[0].length;
    const S = end - start;
    const targets = new BigInt64Array(B * S);
    const weights = new Float32Array(B * S);
    for (let b = 0; b < B; b++) {
      for (let t = start; t < end && t < T - 1; t++) {
        targets[b * S + t - start] = BigInt(ids[b][t + 1]);
        weights[b * S + t - start] = 1;
      }
    }
    const rt = this.rt;
    const feeds: Record<string, Tensor> = {
      rows: rt.tensor('int64', BigInt64Array.from({ length: S }, (_, i) => BigInt(start + i)), [S]),
      targets: rt.tensor('int64', targets, [B, S]),
      weights: rt.tensor('float32', weights, [B, S]),
      count: rt.tensor('float32', Float32Array.of(count), []),
    };
    return feeds;
  }
}

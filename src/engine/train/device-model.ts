// A model's frozen weights on the runtime's device, with the per-length inputs every layer
// shares (causal mask, rotary tables) and the feeds of the embedding and head graphs.
import { GraphBuilder } from '../graph/builder';
import type { Graph } from '../graph/ir';
import { buildEmbed } from '../model/architecture';
import type { HostTensor, Model } from '../model/model';
import { checkWindow } from '../model/config';
import { ropeTables } from '../model/rope';
import type { Runtime, Tensor } from '../runtime/runtime';
import { UserError } from '../errors';

export class DeviceModel {
  readonly layers: Map<string, Tensor>[] = [];
  private embedTable!: Tensor;
  private wpe: Tensor | null = null;
  /** The LM head (V, C), vocab-major: the embedding table itself when tied. */
  private headTable!: Tensor;
  /** The final norm's weights by graph input name. */
  readonly head = new Map<string, Tensor>();
  readonly embedGraph: Graph;
  private readonly rowsGraph: Graph;

  private constructor(readonly rt: Runtime, readonly model: Model) {
    this.embedGraph = buildEmbed(model.config, 'float32').build();
    const b = new GraphBuilder('head_rows');
    b.output(b.op1('Gather', [b.input('table', 'float32', ['V', model.config.hidden]), b.input('rows', 'int64', ['N'])], { axis: 0 }), 'out');
    this.rowsGraph = b.build();
  }

  static async upload(rt: Runtime, model: Model): Promise<DeviceModel> {
    const d = new DeviceModel(rt, model);
    const up = async (h: HostTensor) => {
      const t = await rt.upload(rt.tensor('float32', h.data, h.shape));
      rt.memory.track(t, 'weights');
      return t;
    };
    for (const layer of model.layers) {
      const w = new Map<string, Tensor>();
      for (const [name, h] of layer) w.set(name, await up(h));
      d.layers.push(w);
    }
    d.embedTable = await up(model.embed);
    if (model.positions) d.wpe = await up(model.positions);
    for (const [name, h] of model.finalNorm) d.head.set(name, await up(h));
    d.headTable = model.lmHead === model.embed ? d.embedTable : await up(model.lmHead);
    return d;
  }

  /**
   * The LM head's rows [v0, v1) as float32 (v1 − v0, C), for one vocabulary chunk: the table
   * itself when that is all of it, a view of the host's rows on the CPU, else a copy on the device
   * (counted as activations until releaseHeadRows).
   */
  async headRows(v0: number, v1: number): Promise<Tensor> {
    const { vocabSize: V, hidden: C } = this.model.config;
    if (v0 === 0 && v1 === V) return this.headTable;
    if (!this.rt.onDevice) return this.rt.tensor('float32', this.model.lmHead.data.subarray(v0 * C, v1 * C), [v1 - v0, C]);
    const rows = this.rt.tensor('int64', BigInt64Array.from({ length: v1 - v0 }, (_, i) => BigInt(v0 + i)), [v1 - v0]);
    const t = (await this.rt.run(this.rowsGraph, { table: this.headTable, rows })).out;
    this.rt.memory.track(t, 'activations');
    return t;
  }

  /** Gives back what headRows lent. */
  releaseHeadRows(t: Tensor): void {
    if (t !== this.headTable) this.rt.dispose(t);
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

  embedFeeds(ids: number[][]): Record<string, Tensor> {
    const { B, T } = this.checkBatch(ids);
    const rt = this.rt;
    const feeds: Record<string, Tensor> = { ids: rt.tensor('int64', BigInt64Array.from(ids.flat().map(BigInt)), [B, T]), embed: this.embedTable };
    if (this.wpe) {
      feeds.positions = rt.tensor('int64', BigInt64Array.from({ length: T }, (_, i) => BigInt(i)), [T]);
      feeds.wpe = this.wpe;
    }
    return feeds;
  }

  /** Embedding feeds of one sequence whose tokens sit at the given positions (generation, one token at a time). */
  embedFeedsAt(ids: number[], positions: number[]): Record<string, Tensor> {
    const cfg = this.model.config;
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) throw new UserError(`Token id ${id} is outside the model's vocabulary (0..${cfg.vocabSize - 1}).`);
    const feeds: Record<string, Tensor> = { ids: this.rt.tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]), embed: this.embedTable };
    if (this.wpe) [feeds.positions, feeds.wpe] = [this.rt.tensor('int64', BigInt64Array.from(positions.map(BigInt)), [positions.length]), this.wpe];
    return feeds;
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
    for (const t of [...this.layers.flatMap((w) => [...w.values()]), this.embedTable, ...head, this.wpe ?? undefined, ...this.head.values()]) this.rt.dispose(t);
    this.layers.length = 0;
    this.head.clear();
  }

  /** Weights of one layer by graph input name. */
  layerWeights(layer: number): Record<string, Tensor> {
    return Object.fromEntries(this.layers[layer]);
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
    for (const [name, t] of this.head) feeds[name] = t;
    return { feeds, targets };
  }
}

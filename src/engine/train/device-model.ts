// A model's frozen weights on the runtime's device, with the per-length inputs every layer
// shares (causal mask, rotary tables) and the feeds of the embedding and head graphs.
import { GraphBuilder } from '../graph/builder';
import type { Graph } from '../graph/ir';
import { buildEmbed, buildHead } from '../model/architecture';
import type { HostTensor, Model } from '../model/model';
import { causalMask, ropeTables } from '../model/rope';
import type { Runtime, Tensor } from '../runtime/runtime';
import { UserError } from '../errors';

export interface LengthTables {
  mask: Tensor;
  cos?: Tensor;
  sin?: Tensor;
}

export class DeviceModel {
  readonly layers: Map<string, Tensor>[] = [];
  private embedTable!: Tensor;
  private wpe: Tensor | null = null;
  readonly head = new Map<string, Tensor>();
  readonly embedGraph: Graph;
  private tables: { T: number; t: LengthTables } | null = null;
  private headForward: Graph | null = null;

  private constructor(readonly rt: Runtime, readonly model: Model) {
    this.embedGraph = buildEmbed(model.config, 'float32').build();
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
    d.head.set('lm_head', await up(model.lmHead));
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

  /** Mask and rotary tables for positions 0..T−1 (kept for the last length asked). */
  async lengthTables(T: number): Promise<LengthTables> {
    if (this.tables?.T === T) return this.tables.t;
    if (this.tables) for (const t of Object.values(this.tables.t)) this.rt.dispose(t);
    const cfg = this.model.config;
    const up = async (data: Float32Array, shape: number[]) => {
      const x = await this.rt.upload(this.rt.tensor('float32', data, shape));
      this.rt.memory.track(x, 'activations');
      return x;
    };
    const t: LengthTables = { mask: await up(causalMask(T), [T, T]) };
    if (cfg.rope) {
      const r = ropeTables(Array.from({ length: T }, (_, i) => i), cfg.headDim, cfg.rope.theta, cfg.rope.linearFactor);
      t.cos = await up(r.cos, [T, cfg.headDim]);
      t.sin = await up(r.sin, [T, cfg.headDim]);
    }
    this.tables = { T, t };
    return t;
  }

  /** Feeds of one layer's graph, except its LoRA factors. */
  layerFeeds(layer: number, h: Tensor, tables: LengthTables): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = { h, mask: tables.mask };
    if (tables.cos && tables.sin) Object.assign(feeds, { cos: tables.cos, sin: tables.sin });
    for (const [name, w] of this.layers[layer]) feeds[name] = w;
    return feeds;
  }

  /**
   * Feeds of the head graph: the next token as target at every position but the last.
   * Returns the number of predicted tokens.
   */
  headFeeds(ids: number[][], h: Tensor, count: number | null = null): { feeds: Record<string, Tensor>; tokens: number } {
    const B = ids.length;
    const T = ids[0].length;
    const targets = new BigInt64Array(B * T);
    const weights = new Float32Array(B * T);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T - 1; t++) {
        targets[b * T + t] = BigInt(ids[b][t + 1]);
        weights[b * T + t] = 1;
      }
    }
    const tokens = B * (T - 1);
    const rt = this.rt;
    const feeds: Record<string, Tensor> = {
      h,
      targets: rt.tensor('int64', targets, [B, T]),
      weights: rt.tensor('float32', weights, [B, T]),
      count: rt.tensor('float32', Float32Array.of(count ?? tokens), []),
    };
    for (const [name, t] of this.head) feeds[name] = t;
    return { feeds, tokens };
  }

  /** The head's forward alone (its loss with count 1 is the summed negative log-likelihood). */
  headForwardGraph(): Graph {
    this.headForward ??= buildHead(this.model.config, 'float32').build();
    return this.headForward;
  }
}

export type { GraphBuilder };

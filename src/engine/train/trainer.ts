// The dense LoRA training step, layer by layer: embed → each layer's forward (saving what its
// backward needs) → head with loss and its gradient → each layer's backward in reverse →
// AdamW per LoRA tensor. Weights and LoRA factors stay on the runtime's device between runs.
import { gradName } from '../graph/autodiff';
import type { Graph } from '../graph/ir';
import { layerModules } from '../model/architecture';
import { headGraphs, layerGraphs, segmentGraphs, type HeadGraphs, type LayerGraphs, type SegmentGraphs } from './layer-graphs';
import type { LoraConfig } from '../model/lora';
import { peftName, targetedModules } from '../model/lora';
import type { Model } from '../model/model';
import type { StTensor } from '../model/safetensors';
import type { Runtime, Tensor } from '../runtime/runtime';
import { UserError } from '../errors';
import { adamwApply, adamwHyper, ADAMW_DEFAULTS, type AdamWSettings } from './adamw';
import { DeviceModel } from './device-model';
import { mulberry32 } from './random';
import { blockCount, blocksToRows, type KeepSpec } from '../sparsity/blocks';
import { keptBlocks, type LayerPolicy } from '../sparsity/policy';
import { blockTiles, buildScoreGraph, columnScores } from '../sparsity/oracle';
import { normWeights, recall, type DevicePredictors } from '../sparsity/predictor';

/** What one layer's forward left for its backward. */
interface LayerSaved {
  rows: number[];
  sparse: boolean;
  pre: Record<string, Tensor>;
  post: Record<string, Tensor>;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  common: Record<string, Tensor>;
}

/** Which token positions a layer keeps (sorted), or null to run it dense. */
export type Selector = (layer: number, h: Tensor, T: number) => Promise<number[] | null>;

/** How layers choose their tokens: all of them, blocks forced per layer, or the oracle with a policy. */
export type Sparsity =
  | { mode: 'dense' }
  | { mode: 'keep'; spec: KeepSpec; mlpKeep?: number }
  | { mode: 'oracle'; block: number; policy: LayerPolicy[]; mlpKeep?: number }
  /** Blocks chosen from the predictors' scores; with `recall`, the oracle runs too, to measure them. */
  | { mode: 'lemo'; predictors: DevicePredictors; policy: LayerPolicy[]; mlpKeep?: number; recall?: boolean };

/** The last pass's choice per layer, for dashboards and benchmarks. */
export interface SelectionRecord {
  block: number;
  blocks: number;
  /** Kept block indices per layer; null where the layer ran dense. */
  kept: (number[] | null)[];
  /** Per layer, the share of the oracle's kept blocks the predictors kept (lemo mode with recall). */
  recall?: (number | null)[];
  /** Time spent predicting and selecting over the pass (lemo mode), in ms. */
  predictMs?: number;
}

/** One LoRA factor: its PEFT name, where it feeds the layer graph, and its optimizer state. */
export interface LoraParam {
  peft: string;
  layer: number;
  input: string;
  shape: [number, number];
  value: Tensor;
  m: Tensor | null;
  v: Tensor | null;
}

export interface StepResult {
  loss: number;
  /** Number of predicted tokens the loss averages over. */
  tokens: number;
  /** True when the loss was NaN or infinite: no update was applied. */
  skipped: boolean;
}

/** Everything the optimizer holds, on the host: LoRA factors, AdamW moments and step count. */
export interface TrainerState {
  steps: number;
  optimizer: AdamWSettings;
  params: { peft: string; shape: [number, number]; value: Float32Array; m: Float32Array | null; v: Float32Array | null }[];
}

/** Bytes one transient tensor of a segment may take by default. */
export const TRANSIENT_BUDGET = 16 * 2 ** 20;

/** The largest multiple of 16 rows (at least 16) within `fits`, capped. */
function segmentSize(fits: number, cap: number): number {
  return Math.min(cap, Math.max(16, Math.floor(fits / 16) * 16));
}

export class Trainer {
  private layerGraphCache = new Map<string, LayerGraphs>();
  private seg: SegmentGraphs;
  private head: HeadGraphs;
  private targeted: Set<string>[];
  readonly params: LoraParam[] = [];
  /**
   * Query rows per attention segment and rows per LM-head segment. They bound the transients:
   * by default each (heads × segment × keys) or (segment × vocabulary) tensor stays under
   * TRANSIENT_BUDGET; set a number to fix them.
   */
  segmentRows: number | null = null;
  headRows: number | null = null;
  /** Decides each layer's kept tokens during the forward; dense unless set. */
  select: Selector = async () => null;
  lastSelection: SelectionRecord | null = null;
  private scoreGraphs = new Map<number, Graph>();
  /** Share of MLP channels the backward keeps in token-eliminating layers (null: all). */
  private mlpKeep: number | null = null;
  private stepCount = 0;
  optimizer: AdamWSettings = { ...ADAMW_DEFAULTS };

  private constructor(readonly dm: DeviceModel, readonly lora: LoraConfig) {
    const cfg = dm.model.config;
    this.targeted = Array.from({ length: cfg.layers }, (_, l) => targetedModules(cfg, lora, l));
    if (this.targeted.every((t) => t.size === 0)) {
      throw new UserError(`LoRA target_modules ${JSON.stringify(lora.targetModules)} match no module of this ${cfg.architecture}; its modules are ${layerModules(cfg).map((m) => m.name).join(', ')}.`);
    }
    this.seg = segmentGraphs(cfg);
    this.head = headGraphs(cfg);
  }

  get rt(): Runtime {
    return this.dm.rt;
  }

  get model(): Model {
    return this.dm.model;
  }

  /**
   * LoRA factors on a model already on the device: from a PEFT adapter's tensors, or fresh as
   * PEFT makes them (A ~ U(−1/√in, 1/√in), B = 0).
   */
  static async create(rt: Runtime | DeviceModel, model: Model, lora: LoraConfig, opts: { seed?: number; adapter?: Map<string, StTensor> } = {}): Promise<Trainer> {
    const dm = rt instanceof DeviceModel ? rt : await DeviceModel.upload(rt, model);
    const t = new Trainer(dm, lora);
    await t.initLora(opts.seed ?? 0, opts.adapter);
    return t;
  }

  private async initLora(seed: number, adapter?: Map<string, StTensor>): Promise<void> {
    const rand = mulberry32(seed);
    const cfg = this.model.config;
    const modules = new Map(layerModules(cfg).map((x) => [x.name, x]));
    const used = new Set<string>();
    for (let l = 0; l < cfg.layers; l++) {
      for (const name of this.targeted[l]) {
        const mod = modules.get(name)!;
        for (const f of ['A', 'B'] as const) {
          const shape: [number, number] = f === 'A' ? [this.lora.r, mod.in] : [mod.out, this.lora.r];
          const peft = peftName(cfg, l, name, f);
          let data: Float32Array;
          if (adapter) {
            const given = adapter.get(peft);
            if (!given) throw new UserError(`The adapter has no tensor ${peft}, which its adapter_config.json targets.`);
            if (given.shape[0] !== shape[0] || given.shape[1] !== shape[1]) {
              throw new UserError(`The adapter's ${peft} has shape [${given.shape}], but r=${this.lora.r} on this model needs [${shape}].`);
            }
            data = given.data;
            used.add(peft);
          } else if (f === 'A') {
            const bound = 1 / Math.sqrt(mod.in); // kaiming_uniform_(a=√5)
            data = Float32Array.from({ length: shape[0] * shape[1] }, () => (2 * rand() - 1) * bound);
          } else {
            data = new Float32Array(shape[0] * shape[1]);
          }
          const value = await this.rt.upload(this.rt.tensor('float32', data, shape));
          this.rt.memory.track(value, 'adapter');
          this.params.push({ peft, layer: l, input: `${name}.lora_${f}`, shape, value, m: null, v: null });
        }
      }
    }
    if (adapter) {
      const extra = [...adapter.keys()].filter((k) => !used.has(k));
      if (extra.length) throw new UserError(`The adapter has tensors this model does not have, e.g. ${extra[0]}; was it trained for another model?`);
    }
  }

  private graphsFor(layer: number, sparse: boolean): LayerGraphs {
    const mlpKeep = sparse ? this.mlpKeep : null;
    const key = `${sparse}:${mlpKeep}:${[...this.targeted[layer]].sort().join(',')}`;
    let g = this.layerGraphCache.get(key);
    if (!g) {
      g = layerGraphs({ cfg: this.model.config, lora: this.lora, targeted: this.targeted[layer], sparse, dtype: 'float32', mlpKeep });
      this.layerGraphCache.set(key, g);
    }
    return g;
  }

  private loraFeeds(layer: number): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = {};
    for (const p of this.params) if (p.layer === layer) feeds[p.input] = p.value;
    return feeds;
  }

  /** Sets how layers choose their tokens for the passes that follow. */
  setSparsity(s: Sparsity): void {
    const L = this.model.config.layers;
    this.mlpKeep = null;
    if (s.mode === 'dense') {
      this.select = async () => null;
      this.lastSelection = null;
      return;
    }
    if (s.mlpKeep !== undefined) {
      if (!(s.mlpKeep > 0 && s.mlpKeep <= 1)) throw new UserError(`The MLP channel share must be in (0, 1], got ${s.mlpKeep}.`);
      if (this.targeted.some((t) => [...t].some((m) => m.startsWith('mlp.')))) {
        throw new UserError('MLP channel sparsity needs the MLP projections frozen; drop them from the LoRA target modules.');
      }
      this.mlpKeep = s.mlpKeep;
    }
    const block = s.mode === 'keep' ? s.spec.block : s.mode === 'lemo' ? s.predictors.block : s.block;
    if (s.mode === 'lemo' && s.predictors.set.config.layers.length !== L) throw new UserError(`The predictors cover ${s.predictors.set.config.layers.length} layers; the model has ${L}.`);
    this.select = async (layer, h, T) => {
      if (layer === 0) {
        this.lastSelection = { block, blocks: blockCount(T, block), kept: Array(L).fill(null) };
        if (s.mode === 'lemo') Object.assign(this.lastSelection, { recall: Array(L).fill(null), predictMs: 0 });
      }
      const sel = this.lastSelection!;
      let blocks: number[] | null;
      if (s.mode === 'keep') {
        blocks = s.spec.layers[layer];
        if (blocks && blocks.some((j) => j >= blockCount(T, block))) throw new UserError(`Layer ${layer}: kept block ${Math.max(...blocks)} is past the sequence's last block (${blockCount(T, block) - 1}).`);
      } else if (s.policy[layer].kind === 'dense') {
        blocks = null;
      } else if (s.mode === 'oracle') {
        blocks = keptBlocks(columnScores(await this.oracleTiles(layer, h, T, block), blockCount(T, block)), s.policy[layer]);
      } else {
        const t0 = performance.now();
        const tiles = await s.predictors.tiles(layer, h, T, normWeights(this.model.config, this.dm.layerWeights(layer)));
        blocks = keptBlocks(columnScores(tiles, blockCount(T, block)), s.policy[layer]);
        sel.predictMs! += performance.now() - t0;
        if (s.recall) sel.recall![layer] = recall(keptBlocks(columnScores(await this.oracleTiles(layer, h, T, block), blockCount(T, block)), s.policy[layer]), blocks);
      }
      sel.kept[layer] = blocks;
      return blocks ? blocksToRows(blocks, block, T) : null;
    };
  }

  /** The oracle's tile map for one layer's input h: its q and k over every token, then the score graph. */
  async oracleTiles(layer: number, h: Tensor, T: number, block: number): Promise<Float64Array> {
    const rt = this.rt;
    let graph = this.scoreGraphs.get(block);
    if (!graph) this.scoreGraphs.set(block, (graph = buildScoreGraph(this.model.config, block)));
    const rows = Array.from({ length: T }, (_, i) => i);
    const rope = await this.dm.ropeFor(rows);
    const pre = await rt.run(this.graphsFor(layer, false).pre.plain, { ...this.dm.layerWeights(layer), ...this.loraFeeds(layer), ...(rope ?? {}), h });
    for (const t of [pre.q, pre.k, pre.v]) rt.memory.track(t, 'activations');
    const tiles = await blockTiles(rt, graph, pre.q, pre.k, T, block, this.attentionRows(T));
    for (const t of [pre.q, pre.k, pre.v, rope?.cos, rope?.sin]) rt.dispose(t);
    return tiles;
  }

  /** Bytes one transient tensor may take: the runtime's budget, or TRANSIENT_BUDGET. */
  private get budget(): number {
    return this.rt.transientBudget ?? TRANSIENT_BUDGET;
  }

  /** Segment caps grow with the budget (a larger budget is asked for to get fewer runs). */
  private get budgetScale(): number {
    return Math.max(1, Math.floor(this.budget / TRANSIENT_BUDGET));
  }

  /** Query rows per attention segment over K keys. */
  private attentionRows(K: number): number {
    return this.segmentRows ?? segmentSize(this.budget / (4 * this.model.config.heads * K), 256 * this.budgetScale);
  }

  /** Query segments [start, end) over K rows. */
  private segments(K: number): [number, number][] {
    const rows = this.attentionRows(K);
    const out: [number, number][] = [];
    for (let s = 0; s < K; s += rows) out.push([s, Math.min(K, s + rows)]);
    return out;
  }

  private segmentFeeds(rows: number[], start: number, end: number): Record<string, Tensor> {
    const rt = this.rt;
    const range = (a: number, b: number) => BigInt64Array.from({ length: b - a }, (_, i) => BigInt(a + i));
    return {
      qrows: rt.tensor('int64', range(start, end), [end - start]),
      krows: rt.tensor('int64', range(0, end), [end]),
      qpos: rt.tensor('float32', Float32Array.from(rows.slice(start, end)), [end - start]),
      kpos: rt.tensor('float32', Float32Array.from(rows.slice(0, end)), [end]),
    };
  }

  /**
   * One pass over the batch. With `backward`, saves what each part's backward reads, then runs
   * the head's loss and gradient and every part's backward in reverse; otherwise a plain
   * forward whose head returns the summed negative log-likelihood.
   */
  private async pass(ids: number[][], backward: boolean): Promise<{ loss: number; tokens: number; grads: Map<string, Tensor> }> {
    const rt = this.rt;
    const dm = this.dm;
    const cfg = this.model.config;
    const { B, T } = dm.checkBatch(ids);
    const produced = new Set<Tensor>();
    const run = async (g: Graph, feeds: Record<string, Tensor>) => {
      const out = await rt.run(g, feeds);
      for (const t of Object.values(out)) {
        produced.add(t);
        rt.memory.track(t, 'activations');
      }
      return out;
    };
    const free = (t: Tensor | undefined) => {
      if (t && produced.delete(t)) rt.dispose(t);
    };
    const allRows = Array.from({ length: T }, (_, i) => i);
    const saved: LayerSaved[] = [];
    let h = (await run(dm.embedGraph, dm.embedFeeds(ids))).h;

    for (let l = 0; l < cfg.layers; l++) {
      const kept = await this.select(l, h, T);
      const rows = kept ?? allRows;
      const g = this.graphsFor(l, kept !== null);
      const rope = await dm.ropeFor(rows);
      if (rope) Object.values(rope).forEach((t) => produced.add(t));
      const common: Record<string, Tensor> = { ...dm.layerWeights(l), ...this.loraFeeds(l), ...(rope ?? {}) };
      if (kept) {
        common.idx = rt.tensor('int64', BigInt64Array.from(kept.map(BigInt)), [kept.length]);
      }
      const preFeeds = { ...common, h };
      const pre = await run(backward ? g.pre.forward : g.pre.plain, preFeeds);
      let o: Tensor | undefined;
      for (const [s, e] of this.segments(rows.length)) {
        const feeds = { q: pre.q, k: pre.k, v: pre.v, ...this.segmentFeeds(rows, s, e), ...(o ? { o_acc: o } : {}) };
        const next = (await run(o ? this.seg.rest : this.seg.first, feeds)).o;
        free(o);
        o = next;
      }
      const postFeeds = { ...common, h, o: o! };
      const post = await run(backward ? g.post.forward : g.post.plain, postFeeds);
      if (backward) {
        const keep = (names: string[], out: Record<string, Tensor>, feeds: Record<string, Tensor>) =>
          Object.fromEntries(names.map((n) => [n, out[n] ?? feeds[n]]));
        saved.push({ rows, sparse: kept !== null, pre: keep(g.pre.saved, pre, preFeeds), post: keep(g.post.saved, post, postFeeds), q: pre.q, k: pre.k, v: pre.v, common });
        // The layer's input and o stay only if a backward reads them (a sparse layer keeps
        // just the gathered rows of h).
        if (!g.post.saved.includes('o')) free(o);
        if (!g.pre.saved.includes('h') && !g.post.saved.includes('h')) free(h);
      } else {
        for (const t of [pre.q, pre.k, pre.v, o, h]) free(t);
        if (rope) Object.values(rope).forEach(free);
      }
      h = post.out;
    }

    if (this.layersOnly) {
      for (const t of produced) rt.dispose(t);
      return { loss: NaN, tokens: 0, grads: new Map() };
    }
    const tokens = B * (T - 1);
    let loss = 0;
    let dh: Tensor | undefined;
    const headRows = this.headRows ?? segmentSize(this.budget / (4 * cfg.vocabSize), 1024 * this.budgetScale);
    for (let s = 0; s < T; s += headRows) {
      const e = Math.min(T, s + headRows);
      const feeds: Record<string, Tensor> = { ...dm.headFeeds(ids, s, e, backward ? tokens : 1), h };
      if (!backward) {
        const out = await run(this.head.plain, feeds);
        loss += await rt.readScalar(out.loss);
        free(out.loss);
        continue;
      }
      feeds[gradName('loss')] = rt.tensor('float32', Float32Array.of(1), []);
      if (dh) feeds[`acc_${gradName('h')}`] = dh;
      const out = await run(dh ? this.head.rest : this.head.first, feeds);
      loss += await rt.readScalar(out.loss);
      free(out.loss);
      free(dh);
      dh = out[gradName('h')];
    }
    free(h);

    const grads = new Map<string, Tensor>();
    const collect = (l: number, out: Record<string, Tensor>) => {
      for (const p of this.params) {
        const grad = p.layer === l ? out[gradName(p.input)] : undefined;
        if (!grad) continue;
        produced.delete(grad);
        rt.memory.release(grad);
        rt.memory.track(grad, 'gradients');
        grads.set(p.peft, grad);
      }
    };
    for (let l = cfg.layers - 1; backward && l >= 0; l--) {
      const sv = saved[l];
      const g = this.graphsFor(l, sv.sparse);
      const post = await run(g.post.backward, { ...sv.post, [gradName('out')]: dh! });
      collect(l, post);
      free(dh);
      let acc: Record<string, Tensor> | null = null;
      for (const [s, e] of this.segments(sv.rows.length)) {
        const feeds: Record<string, Tensor> = { q: sv.q, k: sv.k, v: sv.v, ...this.segmentFeeds(sv.rows, s, e), [gradName('o')]: post[gradName('o')] };
        if (acc) for (const n of ['q', 'k', 'v']) feeds[`acc_${gradName(n)}`] = acc[gradName(n)];
        const out = await run(acc ? this.seg.backwardRest : this.seg.backwardFirst, feeds);
        if (acc) Object.values(acc).forEach(free);
        acc = { [gradName('q')]: out[gradName('q')], [gradName('k')]: out[gradName('k')], [gradName('v')]: out[gradName('v')] };
      }
      free(post[gradName('o')]);
      const pre = await run(g.pre.backward, { ...sv.pre, ...acc!, [`acc_${gradName('h')}`]: post[gradName('h')] });
      collect(l, pre);
      Object.values(acc!).forEach(free);
      free(post[gradName('h')]);
      for (const t of [...Object.values(sv.pre), ...Object.values(sv.post), sv.q, sv.k, sv.v, sv.common.cos, sv.common.sin]) free(t);
      saved[l] = undefined as unknown as LayerSaved;
      dh = pre[gradName('h')];
    }
    free(dh);
    for (const t of produced) rt.dispose(t);
    return { loss, tokens, grads };
  }

  /** Loss and the gradient of every LoRA factor (device tensors, by PEFT name). */
  async lossAndGrads(ids: number[][]): Promise<{ loss: number; tokens: number; grads: Map<string, Tensor> }> {
    return this.pass(ids, true);
  }

  private layersOnly = false;

  /**
   * The forward through the layers only (no head, no backward), calling `visit` with each
   * layer's input before the layer runs; layers run as the current sparsity selects.
   */
  async visitLayers(ids: number[][], visit: (layer: number, h: Tensor, T: number) => Promise<void>): Promise<void> {
    const select = this.select;
    this.select = async (layer, h, T) => {
      await visit(layer, h, T);
      return select(layer, h, T);
    };
    this.layersOnly = true;
    try {
      await this.pass(ids, false);
    } finally {
      this.select = select;
      this.layersOnly = false;
    }
  }

  /** Summed negative log-likelihood of the next token over a batch, and how many were predicted. */
  async nll(ids: number[][]): Promise<{ nll: number; tokens: number }> {
    const r = await this.pass(ids, false);
    return { nll: r.loss, tokens: r.tokens };
  }

  /** One optimizer step on a batch; returns the loss before the update. A NaN or infinite loss applies nothing. */
  async step(ids: number[][]): Promise<StepResult> {
    const { loss, tokens, grads } = await this.lossAndGrads(ids);
    if (!Number.isFinite(loss)) {
      for (const g of grads.values()) this.rt.dispose(g);
      return { loss, tokens, skipped: true };
    }
    this.stepCount++;
    const rt = this.rt;
    const hyper = adamwHyper(rt, this.optimizer, this.stepCount);
    for (const p of this.params) {
      const zeros = () => rt.upload(rt.tensor('float32', new Float32Array(p.shape[0] * p.shape[1]), p.shape));
      p.m ??= await zeros();
      p.v ??= await zeros();
      await adamwApply(rt, p as { value: Tensor; m: Tensor; v: Tensor }, grads.get(p.peft)!, hyper, 'adapter');
      rt.dispose(grads.get(p.peft));
    }
    return { loss, tokens, skipped: false };
  }

  /** The optimizer's whole state, read back to the host (for checkpoints). */
  async exportState(): Promise<TrainerState> {
    const read = async (t: Tensor | null) => (t ? Float32Array.from((await this.rt.read(t)) as Float32Array) : null);
    const params: TrainerState['params'] = [];
    for (const p of this.params) params.push({ peft: p.peft, shape: [...p.shape], value: (await read(p.value))!, m: await read(p.m), v: await read(p.v) });
    return { steps: this.stepCount, optimizer: { ...this.optimizer }, params };
  }

  /** Replaces the LoRA factors, moments and step count with a saved state of the same LoRA layout. */
  async importState(s: TrainerState): Promise<void> {
    const saved = new Map(s.params.map((p) => [p.peft, p]));
    for (const p of this.params) {
      const q = saved.get(p.peft);
      if (!q || q.shape[0] !== p.shape[0] || q.shape[1] !== p.shape[1]) throw new UserError(`The saved state has no tensor ${p.peft} of shape [${p.shape}]; it was made with other LoRA settings.`);
    }
    if (saved.size !== this.params.length) throw new UserError(`The saved state has ${saved.size} LoRA tensors; these LoRA settings make ${this.params.length}.`);
    const rt = this.rt;
    const up = async (data: Float32Array | null, shape: [number, number], kind: 'adapter' | 'optimizer') => {
      if (!data) return null;
      if (data.length !== shape[0] * shape[1]) throw new UserError(`A saved tensor has ${data.length} values where [${shape}] needs ${shape[0] * shape[1]}.`);
      const t = await rt.upload(rt.tensor('float32', Float32Array.from(data), shape));
      rt.memory.track(t, kind);
      return t;
    };
    for (const p of this.params) {
      const q = saved.get(p.peft)!;
      const [value, m, v] = [await up(q.value, p.shape, 'adapter'), await up(q.m, p.shape, 'optimizer'), await up(q.v, p.shape, 'optimizer')];
      for (const old of [p.value, p.m, p.v]) if (old) rt.dispose(old);
      p.value = value!;
      p.m = m;
      p.v = v;
    }
    this.stepCount = s.steps;
    this.optimizer = { ...s.optimizer };
  }

  /** The LoRA factors under PEFT's names, read back to the host. */
  async adapterTensors(): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const p of this.params) out.set(p.peft, { shape: [...p.shape], data: Float32Array.from((await this.rt.read(p.value)) as Float32Array) });
    return out;
  }

  get steps(): number {
    return this.stepCount;
  }

  /** Frees the LoRA factors and optimizer state (the model's weights stay with the DeviceModel). */
  dispose(): void {
    for (const p of this.params) for (const t of [p.value, p.m, p.v]) if (t) this.rt.dispose(t);
    this.params.length = 0;
  }
}

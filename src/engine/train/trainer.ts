// The LoRA training step, layer by layer: embed → each layer's forward (saving what its
// backward needs) → head with loss and its gradient → each layer's backward in reverse →
// AdamW per LoRA tensor. Weights and LoRA factors stay on the runtime's device between runs.
// Which tokens each layer keeps comes in with each call, as a TokenSelector.
import { gradName } from '../graph/autodiff';
import type { ModelConfig } from '../model/config';
import { layerModules } from '../model/architecture';
import type { LoraConfig } from '../model/lora';
import { peftName, targetedModules } from '../model/lora';
import type { Model } from '../model/model';
import type { StTensor } from '../model/safetensors';
import type { Runtime, Tensor } from '../runtime/runtime';
import type { Graph } from '../graph/ir';
import { UserError } from '../errors';
import { attentionGroup } from '../settings';
import type { GpuKernels } from '../runtime/kernels/kernels';
import { adamwApply, adamwHyper, adamwStepValues, ADAMW_DEFAULTS, gradNorm, type AdamWSettings } from './adamw';
import { DeviceModel } from './device-model';
import { headGraphs, layerGraphs, segmentGraphs, type HeadGraphs, type LayerGraphs, type SegmentGraphs } from './layer-graphs';
import { headForward } from './head-pass';
import { layerBackward, layerForward, PassTensors, type PassContext } from './pass';
import { SavedLayers, type OffloadOptions } from './offload';
import { mulberry32 } from './random';
import { Segments, type SegmentRows } from './segments';
import { DENSE, type LayerProbe, type TokenSelector } from './selection';

export { TRANSIENT_BUDGET, type SegmentRows } from './segments';

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
  /** The learning rate the update used, after the schedule (NaN when skipped). */
  lr: number;
  /** Global L2 norm of every LoRA factor's gradient, before the update (NaN when skipped). */
  gradNorm: number;
}

/** Everything the optimizer holds, on the host: LoRA factors, AdamW moments and step count. */
export interface TrainerState {
  steps: number;
  optimizer: AdamWSettings;
  params: { peft: string; shape: [number, number]; value: Float32Array; m: Float32Array | null; v: Float32Array | null }[];
}

export interface TrainerOptions extends SegmentRows {
  seed?: number;
  adapter?: Map<string, StTensor>;
  /** AdamW's settings (default ADAMW_DEFAULTS). */
  optimizer?: AdamWSettings;
  /** The learning rate's multiplier at each optimizer step (1-based); default 1. */
  schedule?: (step: number) => number;
  /** Where saved activations wait for their backward (default: where they are computed). */
  offload?: OffloadOptions;
}

export class Trainer implements LayerProbe {
  private layerGraphCache = new Map<string, LayerGraphs>();
  private seg: SegmentGraphs;
  private s2: SegmentGraphs | null = null;
  private head: HeadGraphs;
  /** The engine's WGSL kernels under WebGPU (attention, AdamW), or null. */
  private kernels: GpuKernels | null = null;
  private targeted: Set<string>[];
  private segments: Segments;
  readonly params: LoraParam[] = [];
  private stepCount = 0;
  private adamw: AdamWSettings;
  private schedule: ((step: number) => number) | undefined;
  private offload: OffloadOptions;

  private constructor(readonly dm: DeviceModel, readonly lora: LoraConfig, opts: TrainerOptions) {
    const cfg = dm.model.config;
    this.targeted = Array.from({ length: cfg.layers }, (_, l) => targetedModules(cfg, lora, l));
    if (this.targeted.every((t) => t.size === 0)) {
      throw new UserError(`LoRA target_modules ${JSON.stringify(lora.targetModules)} match no module of this ${cfg.architecture}; its modules are ${layerModules(cfg).map((m) => m.name).join(', ')}.`);
    }
    this.seg = segmentGraphs(cfg);
    this.head = headGraphs(cfg, dm.rt.onDevice);
    this.segments = new Segments(dm.rt, cfg, opts);
    this.adamw = { ...(opts.optimizer ?? ADAMW_DEFAULTS) };
    this.schedule = opts.schedule;
    this.offload = opts.offload ?? { mode: 'none' };
  }

  get rt(): Runtime {
    return this.dm.rt;
  }

  get model(): Model {
    return this.dm.model;
  }

  get config(): ModelConfig {
    return this.dm.model.config;
  }

  /** The LM head's vocabulary chunks [v0, v1) (DeviceModel.headRows lends each). */
  headChunks(): [number, number][] {
    return this.segments.headChunks();
  }

  /** AdamW's settings now (the learning rate halves after a skipped step). */
  get optimizer(): AdamWSettings {
    return { ...this.adamw };
  }

  /**
   * LoRA factors on a model already on the device: from a PEFT adapter's tensors, or fresh as
   * PEFT makes them (A ~ U(−1/√in, 1/√in), B = 0).
   */
  static async create(rt: Runtime | DeviceModel, model: Model, lora: LoraConfig, opts: TrainerOptions = {}): Promise<Trainer> {
    const dm = rt instanceof DeviceModel ? rt : await DeviceModel.upload(rt, model);
    const t = new Trainer(dm, lora, opts);
    await t.initLora(opts.seed ?? 0, opts.adapter);
    t.kernels = await dm.rt.kernels();
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
            data = this.adapterFactor(adapter, peft, shape);
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

  private adapterFactor(adapter: Map<string, StTensor>, peft: string, shape: [number, number]): Float32Array {
    const given = adapter.get(peft);
    if (!given) throw new UserError(`The adapter has no tensor ${peft}, which its adapter_config.json targets.`);
    if (given.shape[0] !== shape[0] || given.shape[1] !== shape[1]) {
      throw new UserError(`The adapter's ${peft} has shape [${given.shape}], but r=${this.lora.r} on this model needs [${shape}].`);
    }
    return given.data;
  }

  /** Layer graphs, dense or token-eliminating; MLP channel sparsity (when the selector asks) in every layer. */
  private graphsFor(layer: number, sparse: boolean, mlpKeep: number | null): LayerGraphs {
    const key = `${sparse}:${mlpKeep}:${[...this.targeted[layer]].sort().join(',')}`;
    let g = this.layerGraphCache.get(key);
    if (!g) {
      g = layerGraphs({ cfg: this.model.config, lora: this.lora, targeted: this.targeted[layer], sparse, dtype: 'float32', mlpKeep });
      this.layerGraphCache.set(key, g);
    }
    return g;
  }

  /**
   * A layer's dense forward for inference (generation): its plain pre and post graphs, with its
   * weights and LoRA factors as feeds (release() after its runs frees weights widened for them).
   */
  async plainLayer(layer: number): Promise<{ pre: Graph; post: Graph; feeds: Record<string, Tensor>; release(): void }> {
    const g = this.graphsFor(layer, false, null);
    const weights = await this.dm.layerWeights(layer);
    return { pre: g.pre.plain, post: g.post.plain, feeds: { ...weights, ...this.loraFeeds(layer) }, release: () => this.dm.releaseWeights(weights) };
  }

  private loraFeeds(layer: number): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = {};
    for (const p of this.params) if (p.layer === layer) feeds[p.input] = p.value;
    return feeds;
  }

  /** MLP channel sparsity needs the MLP projections frozen. */
  private checkSelector(selector: TokenSelector): void {
    if (selector.mlpKeep !== null && this.targeted.some((t) => [...t].some((m) => m.startsWith('mlp.')))) {
      throw new UserError('MLP channel sparsity needs the MLP projections frozen: drop them from the LoRA target modules, or keep every MLP channel (--mlp-keep 1).');
    }
  }

  // LayerProbe: what a selector may ask of the step.

  layerWeights(layer: number): Record<string, Tensor> {
    return this.dm.floatWeights(layer);
  }

  attentionRows(T: number): number {
    return this.segments.attentionRows(T);
  }

  /** The layer's q and k over every token of h, from its dense pre-attention part. */
  async queryKeys(layer: number, h: Tensor, T: number): Promise<{ q: Tensor; k: Tensor; release(): void }> {
    const rt = this.rt;
    const rope = await this.dm.ropeFor(Array.from({ length: T }, (_, i) => i));
    const pre = await this.dm.withLayerWeights(layer, (weights) => rt.run(this.graphsFor(layer, false, null).pre.plain, { ...weights, ...this.loraFeeds(layer), ...(rope ?? {}), h }));
    for (const t of [pre.q, pre.k, pre.v]) rt.memory.track(t, 'activations');
    return { q: pre.q, k: pre.k, release: () => [pre.q, pre.k, pre.v, rope?.cos, rope?.sin].forEach((t) => rt.dispose(t)) };
  }

  /** The shifted sparse attention group of a pass over T tokens (training passes only), checked. */
  private groupOf(selector: TokenSelector, backward: boolean, T: number): number | null {
    const group = backward ? selector.group ?? null : null;
    if (group === null) return null;
    attentionGroup({ attention: 's2', group }, T);
    if (this.config.heads % 2 !== 0) throw new UserError(`Shifted sparse attention shifts half of the attention heads, but this model has ${this.config.heads}; train it with full attention.`);
    this.s2 ??= segmentGraphs(this.config, true);
    return group;
  }

  private context(tensors: PassTensors, selector: TokenSelector, group: number | null = null): PassContext {
    return {
      dm: this.dm, tensors, segments: this.segments, seg: group ? this.s2! : this.seg, group, head: this.head, kernels: this.kernels,
      graphs: (l, sparse) => this.graphsFor(l, sparse, selector.mlpKeep), loraFeeds: (l) => this.loraFeeds(l),
    };
  }

  /** Every layer's forward, each on the rows the selector keeps; with `saved`, what each saved goes there. */
  private async forwardLayers(c: PassContext, ids: number[][], selector: TokenSelector, saved: SavedLayers | null): Promise<Tensor> {
    const { T } = this.dm.checkBatch(ids);
    const allRows = Array.from({ length: T }, (_, i) => i);
    // One session run at a time: onnxruntime's WebGPU provider cannot interleave them.
    const tables = await this.dm.ropeFor(allRows);
    if (tables) Object.values(tables).forEach((t) => c.tensors.adopt(t));
    c.allRope = { rows: allRows, tables };
    const embed = await this.dm.embedFeeds(ids);
    let h = (await c.tensors.run(this.dm.embedGraph, embed).finally(() => this.dm.releaseWeights(embed))).h;
    for (let l = 0; l < this.config.layers; l++) {
      const kept = await selector.select(l, h, T, this);
      const r = await layerForward(c, l, h, kept, allRows, saved !== null);
      if (r.saved) await saved!.push(l, r.saved, r.out);
      h = r.out;
    }
    return h;
  }

  /** Every layer's backward in reverse from the head's dh; the LoRA gradients by PEFT name. */
  private async backwardLayers(c: PassContext, saved: SavedLayers, dh: Tensor): Promise<Map<string, Tensor>> {
    const grads = new Map<string, Tensor>();
    for (let l = this.config.layers - 1; l >= 0; l--) {
      const collect = (out: Record<string, Tensor>) => {
        for (const p of this.params) {
          const grad = p.layer === l ? out[gradName(p.input)] : undefined;
          if (!grad) continue;
          c.tensors.release(grad);
          this.rt.memory.release(grad);
          this.rt.memory.track(grad, 'gradients');
          grads.set(p.peft, grad);
        }
      };
      // A layer that cannot be brought back (offload's store failed) ends the pass: the gradients so far go.
      dh = await saved.take(l).then((sv) => layerBackward(c, l, sv, dh, collect)).catch((e: unknown) => {
        for (const g of grads.values()) this.rt.dispose(g);
        throw e;
      });
    }
    c.tensors.free(dh);
    return grads;
  }

  /**
   * One pass over the batch. With `backward`, saves what each part's backward reads, then runs
   * the head's loss and gradient and every part's backward in reverse; otherwise a plain
   * forward whose head returns the summed negative log-likelihood.
   */
  private async pass(ids: number[][], backward: boolean, selector: TokenSelector): Promise<{ loss: number; tokens: number; grads: Map<string, Tensor> }> {
    this.checkSelector(selector);
    const { B, T } = this.dm.checkBatch(ids);
    const group = this.groupOf(selector, backward, T);
    const tensors = new PassTensors(this.rt);
    const c = this.context(tensors, selector, group);
    const saved = backward ? new SavedLayers(this.rt, tensors, this.offload) : null;
    try {
      const h = await this.forwardLayers(c, ids, selector, saved);
      const tokens = B * (T - 1);
      const { loss, dh } = await headForward(c, ids, h, tokens, backward);
      tensors.free(h);
      const grads = saved ? await this.backwardLayers(c, saved, dh!) : new Map<string, Tensor>();
      return { loss, tokens, grads };
    } finally {
      // Also after a failure: nothing parked stays in memory or in the store.
      await saved?.discard();
      tensors.freeAll();
    }
  }

  /** Loss and the gradient of every LoRA factor (device tensors, by PEFT name). */
  async lossAndGrads(ids: number[][], selector: TokenSelector = DENSE): Promise<{ loss: number; tokens: number; grads: Map<string, Tensor> }> {
    return this.pass(ids, true, selector);
  }

  /**
   * The forward through the layers only (no head, no backward), calling `visit` with each
   * layer's input before the layer runs; layers run as the selector chooses.
   */
  async visitLayers(ids: number[][], visit: (layer: number, h: Tensor, T: number) => Promise<void>, selector: TokenSelector = DENSE): Promise<void> {
    this.checkSelector(selector);
    const visiting: TokenSelector = {
      mlpKeep: selector.mlpKeep,
      select: async (layer, h, T, probe) => {
        await visit(layer, h, T);
        return selector.select(layer, h, T, probe);
      },
    };
    const tensors = new PassTensors(this.rt);
    await this.forwardLayers(this.context(tensors, visiting), ids, visiting, null);
    tensors.freeAll();
  }

  /** Summed negative log-likelihood of the next token over a batch, and how many were predicted. */
  async nll(ids: number[][], selector: TokenSelector = DENSE): Promise<{ nll: number; tokens: number }> {
    const r = await this.pass(ids, false, selector);
    return { nll: r.loss, tokens: r.tokens };
  }

  /** One optimizer step on a batch; returns the loss before the update. A NaN or infinite loss applies nothing. */
  async step(ids: number[][], selector: TokenSelector = DENSE): Promise<StepResult> {
    const { loss, tokens, grads } = await this.lossAndGrads(ids, selector);
    if (!Number.isFinite(loss)) {
      for (const g of grads.values()) this.rt.dispose(g);
      return { loss, tokens, skipped: true, lr: NaN, gradNorm: NaN };
    }
    this.stepCount++;
    const norm = await gradNorm(this.rt, this.params.map((p) => grads.get(p.peft)!));
    const lr = this.adamw.lr * (this.schedule?.(this.stepCount) ?? 1);
    await this.adamwStep(grads, lr);
    return { loss, tokens, skipped: false, lr, gradNorm: norm };
  }

  /** AdamW at rate `lr` on every LoRA factor with its gradient (freed here). */
  private async adamwStep(grads: Map<string, Tensor>, lr: number): Promise<void> {
    const rt = this.rt;
    const settings = { ...this.adamw, lr };
    // The kernel takes the step's numbers; the AdamW graph takes them as scalar tensors.
    const step = adamwStepValues(settings, this.stepCount);
    const hyper = this.kernels ? null : adamwHyper(rt, settings, this.stepCount);
    for (const p of this.params) {
      const zeros = async () => {
        const z = await rt.upload(rt.tensor('float32', new Float32Array(p.shape[0] * p.shape[1]), p.shape));
        // The kernel updates the moments in place (the graph path tracks the tensors it makes).
        if (this.kernels) rt.memory.track(z, 'optimizer');
        return z;
      };
      p.m ??= await zeros();
      p.v ??= await zeros();
      // In place on the GPU with the kernel; otherwise the AdamW graph makes new tensors.
      if (this.kernels) this.kernels.adamw({ p: p.value, g: grads.get(p.peft)!, m: p.m, v: p.v }, step);
      else await adamwApply(rt, p as { value: Tensor; m: Tensor; v: Tensor }, grads.get(p.peft)!, hyper!, 'adapter');
      rt.dispose(grads.get(p.peft));
    }
  }

  /** Halves the learning rate (after a step whose loss was NaN or infinite); returns the new one. */
  halveLearningRate(): number {
    this.adamw = { ...this.adamw, lr: this.adamw.lr / 2 };
    return this.adamw.lr;
  }

  /** The optimizer's whole state, read back to the host (for checkpoints). */
  async exportState(): Promise<TrainerState> {
    const read = async (t: Tensor | null) => (t ? Float32Array.from((await this.rt.read(t)) as Float32Array) : null);
    const params: TrainerState['params'] = [];
    for (const p of this.params) params.push({ peft: p.peft, shape: [...p.shape], value: (await read(p.value))!, m: await read(p.m), v: await read(p.v) });
    return { steps: this.stepCount, optimizer: { ...this.adamw }, params };
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
    this.adamw = { ...s.optimizer };
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

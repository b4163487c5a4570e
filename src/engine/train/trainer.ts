// The dense LoRA training step, layer by layer: embed → each layer's forward (saving what its
// backward needs) → head with loss and its gradient → each layer's backward in reverse →
// AdamW per LoRA tensor. Weights and LoRA factors stay on the runtime's device between runs.
import { differentiate, gradName } from '../graph/autodiff';
import type { Graph } from '../graph/ir';
import { buildHead, buildLayer, layerModules } from '../model/architecture';
import type { LoraConfig } from '../model/lora';
import { peftName, targetedModules } from '../model/lora';
import type { Model } from '../model/model';
import type { StTensor } from '../model/safetensors';
import type { Runtime, Tensor } from '../runtime/runtime';
import { UserError } from '../errors';
import { adamwGraph, ADAMW_DEFAULTS, type AdamWSettings } from './adamw';
import { DeviceModel } from './device-model';
import { mulberry32 } from './random';

interface LayerGraphs {
  /** Forward alone, for evaluation. */
  plain: Graph;
  /** Forward that also outputs what the backward reads. */
  forward: Graph;
  backward: Graph;
  saved: string[];
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
}

export class Trainer {
  private layerGraphs = new Map<string, LayerGraphs>();
  private targeted: Set<string>[];
  readonly params: LoraParam[] = [];
  private headGraph: Graph;
  private stepCount = 0;
  optimizer: AdamWSettings = { ...ADAMW_DEFAULTS };

  private constructor(readonly dm: DeviceModel, readonly lora: LoraConfig) {
    const cfg = dm.model.config;
    this.targeted = Array.from({ length: cfg.layers }, (_, l) => targetedModules(cfg, lora, l));
    if (this.targeted.every((t) => t.size === 0)) {
      throw new UserError(`LoRA target_modules ${JSON.stringify(lora.targetModules)} match no module of this ${cfg.architecture}; its modules are ${layerModules(cfg).map((m) => m.name).join(', ')}.`);
    }
    this.headGraph = differentiate(buildHead(cfg, 'float32'), { wrt: ['h'], seeds: ['loss'] }).fused;
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

  private graphsFor(layer: number): LayerGraphs {
    const key = [...this.targeted[layer]].sort().join(',');
    let g = this.layerGraphs.get(key);
    if (!g) {
      const fb = buildLayer(this.model.config, this.lora, this.targeted[layer], 'float32');
      const plain = fb.build();
      const wrt = ['h', ...fb.inputs.filter((i) => i.name.includes('.lora_')).map((i) => i.name)];
      const d = differentiate(fb, { wrt, seeds: ['out'] });
      g = { plain, forward: d.forward, backward: d.backward, saved: d.saved };
      this.layerGraphs.set(key, g);
    }
    return g;
  }

  private layerFeeds(l: number, h: Tensor, tables: Awaited<ReturnType<DeviceModel['lengthTables']>>): Record<string, Tensor> {
    const feeds = this.dm.layerFeeds(l, h, tables);
    for (const p of this.params) if (p.layer === l) feeds[p.input] = p.value;
    return feeds;
  }

  /** Loss and the gradient of every LoRA factor (device tensors, by PEFT name). */
  async lossAndGrads(ids: number[][]): Promise<{ loss: number; tokens: number; grads: Map<string, Tensor> }> {
    const rt = this.rt;
    const dm = this.dm;
    const cfg = this.model.config;
    const embedFeeds = dm.embedFeeds(ids);
    const tables = await dm.lengthTables(ids[0].length);
    // What this step creates is an activation until released; LoRA gradients are handed out.
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
    let h = (await run(dm.embedGraph, embedFeeds)).h;
    const saved: Record<string, Tensor>[] = [];
    for (let l = 0; l < cfg.layers; l++) {
      const g = this.graphsFor(l);
      const feeds = this.layerFeeds(l, h, tables);
      const out = await run(g.forward, feeds);
      const keep: Record<string, Tensor> = {};
      for (const s of g.saved) keep[s] = out[s] ?? feeds[s];
      saved.push(keep);
      h = out.out;
    }
    const { feeds: headFeeds, tokens } = dm.headFeeds(ids, h);
    headFeeds[gradName('loss')] = rt.tensor('float32', Float32Array.of(1), []);
    const head = await run(this.headGraph, headFeeds);
    const loss = await rt.readScalar(head.loss);
    let dh = head[gradName('h')];

    free(head.loss);
    free(h);

    const grads = new Map<string, Tensor>();
    for (let l = cfg.layers - 1; l >= 0; l--) {
      const g = this.graphsFor(l);
      const out = await run(g.backward, { ...saved[l], [gradName('out')]: dh });
      for (const p of this.params) {
        if (p.layer !== l) continue;
        const grad = out[gradName(p.input)];
        produced.delete(grad);
        rt.memory.release(grad);
        rt.memory.track(grad, 'gradients');
        grads.set(p.peft, grad);
      }
      free(dh);
      for (const t of Object.values(saved[l])) free(t);
      saved[l] = {};
      dh = out[gradName('h')];
    }
    free(dh);
    for (const t of produced) rt.dispose(t);
    return { loss, tokens, grads };
  }

  /** Summed negative log-likelihood of the next token over a batch, and how many were predicted. */
  async nll(ids: number[][]): Promise<{ nll: number; tokens: number }> {
    const rt = this.rt;
    const dm = this.dm;
    const tables = await dm.lengthTables(ids[0].length);
    let h = (await rt.run(dm.embedGraph, dm.embedFeeds(ids))).h;
    for (let l = 0; l < this.model.config.layers; l++) {
      const next = (await rt.run(this.graphsFor(l).plain, this.layerFeeds(l, h, tables))).out;
      rt.dispose(h);
      h = next;
    }
    const { feeds, tokens } = dm.headFeeds(ids, h, 1);
    const out = await rt.run(dm.headForwardGraph(), feeds);
    const nll = await rt.readScalar(out.loss);
    rt.dispose(h);
    rt.dispose(out.loss);
    return { nll, tokens };
  }

  /** One optimizer step on a batch; returns the loss before the update. */
  async step(ids: number[][]): Promise<StepResult> {
    const { loss, tokens, grads } = await this.lossAndGrads(ids);
    if (!Number.isFinite(loss)) {
      for (const g of grads.values()) this.rt.dispose(g);
      throw new UserError(`The loss is ${loss}; the step was not applied.`);
    }
    this.stepCount++;
    const o = this.optimizer;
    const rt = this.rt;
    const scalar = (x: number) => rt.tensor('float32', Float32Array.of(x), []);
    const hyper = {
      lr: scalar(o.lr), beta1: scalar(o.beta1), beta2: scalar(o.beta2), eps: scalar(o.eps), wd: scalar(o.weightDecay),
      bc1: scalar(1 - o.beta1 ** this.stepCount), bc2: scalar(1 - o.beta2 ** this.stepCount),
    };
    for (const p of this.params) {
      const zeros = () => rt.upload(rt.tensor('float32', new Float32Array(p.shape[0] * p.shape[1]), p.shape));
      p.m ??= await zeros();
      p.v ??= await zeros();
      rt.memory.track(p.m, 'optimizer');
      rt.memory.track(p.v, 'optimizer');
      const out = await rt.run(adamwGraph(), { p: p.value, g: grads.get(p.peft)!, m: p.m, v: p.v, ...hyper });
      for (const old of [p.value, p.m, p.v, grads.get(p.peft)]) rt.dispose(old);
      p.value = out.p_new;
      p.m = out.m_new;
      p.v = out.v_new;
      rt.memory.track(p.value, 'adapter');
      rt.memory.track(p.m, 'optimizer');
      rt.memory.track(p.v, 'optimizer');
    }
    return { loss, tokens };
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
}

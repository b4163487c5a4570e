// The dense LoRA training step, layer by layer: embed → each layer's forward (saving what its
// backward needs) → head with loss and its gradient → each layer's backward in reverse →
// AdamW per LoRA tensor. Weights and LoRA factors stay on the runtime's device between runs.
import { differentiate, gradName } from '../graph/autodiff';
import type { Graph } from '../graph/ir';
import { buildEmbed, buildHead, buildLayer, layerModules } from '../model/architecture';
import type { LoraConfig } from '../model/lora';
import { peftName, targetedModules } from '../model/lora';
import type { Model, HostTensor } from '../model/model';
import { causalMask, ropeTables } from '../model/rope';
import type { StTensor } from '../model/safetensors';
import type { Runtime, Tensor } from '../runtime/runtime';
import { UserError } from '../errors';
import { adamwGraph, ADAMW_DEFAULTS, type AdamWSettings } from './adamw';
import { mulberry32 } from './random';

interface LayerGraphs {
  forward: Graph;
  backward: Graph;
  saved: string[];
}

/** One LoRA factor: its PEFT name, where it feeds the layer graph, and its optimizer state. */
interface LoraParam {
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
  private weights: Map<string, Tensor>[] = [];
  private embed!: Tensor;
  private wpe: Tensor | null = null;
  private head = new Map<string, Tensor>();
  readonly params: LoraParam[] = [];
  private embedGraph: Graph;
  private headGraph: Graph;
  private stepCount = 0;
  private tables = new Map<number, { cos: Tensor; sin: Tensor; mask: Tensor }>();
  optimizer: AdamWSettings = { ...ADAMW_DEFAULTS };

  private constructor(readonly rt: Runtime, readonly model: Model, readonly lora: LoraConfig) {
    const cfg = model.config;
    this.targeted = cfg.layers > 0 ? Array.from({ length: cfg.layers }, (_, l) => targetedModules(cfg, lora, l)) : [];
    if (this.targeted.every((t) => t.size === 0)) {
      throw new UserError(`LoRA target_modules ${JSON.stringify(lora.targetModules)} match no module of this ${cfg.architecture}; its modules are ${layerModules(cfg).map((m) => m.name).join(', ')}.`);
    }
    this.embedGraph = buildEmbed(cfg, 'float32').build();
    const headFwd = buildHead(cfg, 'float32');
    this.headGraph = differentiate(headFwd, { wrt: ['h'], seeds: ['loss'] }).fused;
  }

  /** Uploads the model's weights and creates LoRA factors: from an adapter, or fresh (A random, B = 0, as PEFT). */
  static async create(rt: Runtime, model: Model, lora: LoraConfig, opts: { seed?: number; adapter?: Map<string, StTensor> } = {}): Promise<Trainer> {
    const t = new Trainer(rt, model, lora);
    await t.upload(opts.seed ?? 0, opts.adapter);
    return t;
  }

  private async hostToDevice(h: HostTensor): Promise<Tensor> {
    return this.rt.upload(this.rt.tensor('float32', h.data, h.shape));
  }

  private async upload(seed: number, adapter?: Map<string, StTensor>): Promise<void> {
    const m = this.model;
    for (const layer of m.layers) {
      const w = new Map<string, Tensor>();
      for (const [name, h] of layer) w.set(name, await this.hostToDevice(h));
      this.weights.push(w);
    }
    this.embed = await this.hostToDevice(m.embed);
    if (m.positions) this.wpe = await this.hostToDevice(m.positions);
    for (const [name, h] of m.finalNorm) this.head.set(name, await this.hostToDevice(h));
    this.head.set('lm_head', await this.hostToDevice(m.lmHead));

    const rand = mulberry32(seed);
    const cfg = m.config;
    const modules = new Map(layerModules(cfg).map((x) => [x.name, x]));
    const used = new Set<string>();
    for (let l = 0; l < cfg.layers; l++) {
      for (const name of this.targeted[l]) {
        const mod = modules.get(name)!;
        for (const f of ['A', 'B'] as const) {
          const shape: [number, number] = f === 'A' ? [this.lora.r, mod.in] : [mod.out, this.lora.r];
          const peft = peftName(cfg, l, name, f);
          let data: Float32Array;
          const given = adapter?.get(peft);
          if (adapter) {
            if (!given) throw new UserError(`The adapter has no tensor ${peft}, which its adapter_config.json targets.`);
            if (given.shape[0] !== shape[0] || given.shape[1] !== shape[1]) {
              throw new UserError(`The adapter's ${peft} has shape [${given.shape}], but r=${this.lora.r} on this model needs [${shape}].`);
            }
            data = given.data;
            used.add(peft);
          } else if (f === 'A') {
            // PEFT: kaiming_uniform_(a=√5) → U(−1/√in, 1/√in)
            const bound = 1 / Math.sqrt(mod.in);
            data = Float32Array.from({ length: shape[0] * shape[1] }, () => (2 * rand() - 1) * bound);
          } else {
            data = new Float32Array(shape[0] * shape[1]);
          }
          const value = await this.rt.upload(this.rt.tensor('float32', data, shape));
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
      const wrt = ['h', ...fb.inputs.filter((i) => i.name.includes('.lora_')).map((i) => i.name)];
      const d = differentiate(fb, { wrt, seeds: ['out'] });
      g = { forward: d.forward, backward: d.backward, saved: d.saved };
      this.layerGraphs.set(key, g);
    }
    return g;
  }

  private async positionTables(T: number): Promise<{ cos: Tensor; sin: Tensor; mask: Tensor }> {
    let t = this.tables.get(T);
    if (!t) {
      const cfg = this.model.config;
      const positions = Array.from({ length: T }, (_, i) => i);
      const rope = cfg.rope ? ropeTables(positions, cfg.headDim, cfg.rope.theta, cfg.rope.linearFactor) : null;
      const up = (data: Float32Array, shape: number[]) => this.rt.upload(this.rt.tensor('float32', data, shape));
      t = {
        mask: await up(causalMask(T), [T, T]),
        cos: rope ? await up(rope.cos, [T, cfg.headDim]) : (undefined as unknown as Tensor),
        sin: rope ? await up(rope.sin, [T, cfg.headDim]) : (undefined as unknown as Tensor),
      };
      this.tables.clear();
      this.tables.set(T, t);
    }
    return t;
  }

  private checkBatch(ids: number[][]): { B: number; T: number } {
    const B = ids.length;
    const T = ids[0]?.length ?? 0;
    if (B === 0 || T < 2) throw new UserError('A batch needs at least one sequence of at least 2 tokens.');
    if (ids.some((s) => s.length !== T)) throw new UserError('All sequences of a batch must have the same length.');
    const V = this.model.config.vocabSize;
    for (const s of ids) for (const id of s) if (!Number.isInteger(id) || id < 0 || id >= V) throw new UserError(`Token id ${id} is outside the model's vocabulary (0..${V - 1}).`);
    if (!this.model.config.rope && T > this.model.config.maxPositions) {
      throw new UserError(`${T} tokens exceed this GPT-2 model's ${this.model.config.maxPositions} learned positions.`);
    }
    return { B, T };
  }

  /** Loss and the gradient of every LoRA factor (device tensors, by PEFT name). */
  async lossAndGrads(ids: number[][]): Promise<{ loss: number; tokens: number; grads: Map<string, Tensor> }> {
    const { B, T } = this.checkBatch(ids);
    const rt = this.rt;
    const cfg = this.model.config;
    const flat = BigInt64Array.from(ids.flat().map(BigInt));
    const embedFeeds: Record<string, Tensor> = { ids: rt.tensor('int64', flat, [B, T]), embed: this.embed };
    if (this.wpe) {
      embedFeeds.positions = rt.tensor('int64', BigInt64Array.from({ length: T }, (_, i) => BigInt(i)), [T]);
      embedFeeds.wpe = this.wpe;
    }
    // Everything this step creates on the device is released at its end, except the gradients.
    const produced: Tensor[] = [];
    const run = async (g: Graph, feeds: Record<string, Tensor>) => {
      const out = await rt.run(g, feeds);
      produced.push(...Object.values(out));
      return out;
    };
    let h = (await run(this.embedGraph, embedFeeds)).h;
    const tables = await this.positionTables(T);

    const saved: Record<string, Tensor>[] = [];
    for (let l = 0; l < cfg.layers; l++) {
      const g = this.graphsFor(l);
      const feeds: Record<string, Tensor> = { h, mask: tables.mask };
      if (cfg.rope) Object.assign(feeds, { cos: tables.cos, sin: tables.sin });
      for (const [name, w] of this.weights[l]) feeds[name] = w;
      for (const p of this.params) if (p.layer === l) feeds[p.input] = p.value;
      const out = await run(g.forward, feeds);
      const keep: Record<string, Tensor> = {};
      for (const s of g.saved) keep[s] = out[s] ?? feeds[s];
      saved.push(keep);
      h = out.out;
    }

    // Targets: the next token; the last position of each sequence predicts nothing.
    const targets = new BigInt64Array(B * T);
    const weights = new Float32Array(B * T);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T - 1; t++) {
        targets[b * T + t] = BigInt(ids[b][t + 1]);
        weights[b * T + t] = 1;
      }
    }
    const tokens = B * (T - 1);
    const headFeeds: Record<string, Tensor> = {
      h,
      targets: rt.tensor('int64', targets, [B, T]),
      weights: rt.tensor('float32', weights, [B, T]),
      count: rt.tensor('float32', Float32Array.of(tokens), []),
      [gradName('loss')]: rt.tensor('float32', Float32Array.of(1), []),
    };
    for (const [name, t] of this.head) headFeeds[name] = t;
    const head = await run(this.headGraph, headFeeds);
    const loss = await rt.readScalar(head.loss);
    let dh = head[gradName('h')];

    const grads = new Map<string, Tensor>();
    for (let l = cfg.layers - 1; l >= 0; l--) {
      const g = this.graphsFor(l);
      const out = await run(g.backward, { ...saved[l], [gradName('out')]: dh });
      for (const p of this.params) if (p.layer === l) grads.set(p.peft, out[gradName(p.input)]);
      dh = out[gradName('h')];
      saved[l] = {};
    }
    const kept = new Set(grads.values());
    for (const t of produced) if (!kept.has(t)) rt.dispose(t);
    return { loss, tokens, grads };
  }

  /** One optimizer step on a batch; returns the loss before the update. */
  async step(ids: number[][]): Promise<StepResult> {
    const { loss, tokens, grads } = await this.lossAndGrads(ids);
    if (!Number.isFinite(loss)) throw new UserError(`The loss is ${loss}; the step was not applied.`);
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
      const out = await rt.run(adamwGraph(), { p: p.value, g: grads.get(p.peft)!, m: p.m, v: p.v, ...hyper });
      rt.dispose(p.value);
      rt.dispose(p.m);
      rt.dispose(p.v);
      rt.dispose(grads.get(p.peft));
      p.value = out.p_new;
      p.m = out.m_new;
      p.v = out.v_new;
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

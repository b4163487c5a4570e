// The default model's Llama and a LoRA training step written with TensorFlow.js's own autograd
// (tf.variableGrads), as a TF.js user would: frozen weights as tensors, the LoRA factors of
// q/k/v/o as variables (A random, B zero, scale alpha/r), causal attention with an additive mask
// and tf.softmax, grouped KV heads repeated, linear RoPE, tied LM head, mean next-token
// cross-entropy, Adam. Nothing here recomputes activations: the tape keeps every intermediate.
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensors } from '../../../src/engine/model/safetensors';

export interface LlamaConfig {
  hidden: number; heads: number; kvHeads: number; headDim: number; layers: number; vocab: number; eps: number; theta: number;
}

export function configOf(json: Record<string, any>): LlamaConfig {
  return {
    hidden: json.hidden_size, heads: json.num_attention_heads, kvHeads: json.num_key_value_heads,
    headDim: json.head_dim ?? json.hidden_size / json.num_attention_heads, layers: json.num_hidden_layers,
    vocab: json.vocab_size, eps: json.rms_norm_eps, theta: json.rope_parameters?.rope_theta ?? json.rope_theta ?? 10000,
  };
}

const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj'] as const;

export class TfLlama {
  readonly w = new Map<string, tf.Tensor>();
  readonly lora: { name: string; a: tf.Variable; b: tf.Variable }[] = [];
  private masks = new Map<number, tf.Tensor>();
  private ropes = new Map<string, { cos: tf.Tensor; sin: tf.Tensor }>();

  constructor(readonly cfg: LlamaConfig, weights: Uint8Array, readonly r = 8, readonly alpha = 16, seed = 0) {
    for (const [name, t] of readSafetensors(weights)) this.w.set(name, tf.tensor(t.data, t.shape as number[], 'float32'));
    for (let l = 0; l < cfg.layers; l++) {
      for (const m of TARGETS) {
        const W = this.get(`model.layers.${l}.self_attn.${m}.weight`);
        const [out, inp] = W.shape;
        // PEFT's default: A kaiming-uniform (bound 1/sqrt(in)), B zero.
        const bound = 1 / Math.sqrt(inp);
        const a = tf.variable(tf.randomUniform([this.r, inp], -bound, bound, 'float32', seed + this.lora.length), true, `l${l}.${m}.A`);
        const b = tf.variable(tf.zeros([out, this.r]), true, `l${l}.${m}.B`);
        this.lora.push({ name: `${l}.${m}`, a, b });
      }
    }
  }

  private get(name: string): tf.Tensor {
    const t = this.w.get(name);
    if (!t) throw new Error(`model.safetensors has no ${name}`);
    return t;
  }

  /** Cached tensors outlive the tidy scope of the call that made them (tf.keep). */
  dispose(): void {
    for (const t of [...this.w.values(), ...this.masks.values(), ...[...this.ropes.values()].flatMap((r) => [r.cos, r.sin])]) t.dispose();
  }

  /** Additive causal mask (0 on and below the diagonal, -1e9 above), kept per length. */
  private mask(T: number): tf.Tensor {
    let m = this.masks.get(T);
    if (!m) {
      const d = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) d[i * T + j] = -1e9;
      m = tf.keep(tf.tensor2d(d, [T, T]));
      this.masks.set(T, m);
    }
    return m;
  }

  /** HF's rotary tables with linear scaling: angle = (position / scale) · theta^(-2i/D), halves repeated. */
  private rope(T: number, scale: number) {
    const key = `${T}/${scale}`;
    let r = this.ropes.get(key);
    if (!r) {
      const D = this.cfg.headDim, half = D / 2;
      const cos = new Float32Array(T * D), sin = new Float32Array(T * D);
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < half; i++) {
          const invFreq = 1 / Math.pow(this.cfg.theta, (2 * i) / D) / scale;
          const ang = Math.fround(t * Math.fround(invFreq));
          cos[t * D + i] = cos[t * D + i + half] = Math.cos(ang);
          sin[t * D + i] = sin[t * D + i + half] = Math.sin(ang);
        }
      }
      r = { cos: tf.keep(tf.tensor2d(cos, [T, D])), sin: tf.keep(tf.tensor2d(sin, [T, D])) };
      this.ropes.set(key, r);
    }
    return r;
  }

  private rms(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), this.cfg.eps))), w);
  }

  private linear(x: tf.Tensor, W: tf.Tensor, lora?: { a: tf.Variable; b: tf.Variable }): tf.Tensor {
    const y = tf.matMul(x as tf.Tensor2D, W as tf.Tensor2D, false, true);
    if (!lora) return y;
    const low = tf.matMul(tf.matMul(x as tf.Tensor2D, lora.a, false, true), lora.b, false, true);
    return tf.add(y, tf.mul(low, this.alpha / this.r));
  }

  private rotate(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
    const half = this.cfg.headDim / 2;
    const [x1, x2] = tf.split(x, [half, half], -1);
    return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], -1), sin));
  }

  /** Mean next-token cross-entropy of one sequence. */
  loss(ids: number[], ropeScale: number): tf.Scalar {
    const { hidden: h, heads: H, kvHeads: KV, headDim: D, layers: L, vocab: V } = this.cfg;
    const T = ids.length;
    const { cos, sin } = this.rope(T, ropeScale);
    const mask = this.mask(T);
    const E = this.get('model.embed_tokens.weight');
    let x = tf.gather(E, tf.tensor1d(ids, 'int32'));
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}.`;
      const lora = (m: string) => this.lora[l * 4 + TARGETS.indexOf(m as (typeof TARGETS)[number])];
      const xn = this.rms(x, this.get(`${p}input_layernorm.weight`));
      const heads = (y: tf.Tensor, n: number) => tf.transpose(tf.reshape(y, [T, n, D]), [1, 0, 2]);
      const q = this.rotate(heads(this.linear(xn, this.get(`${p}self_attn.q_proj.weight`), lora('q_proj')), H), cos, sin);
      const repeat = (y: tf.Tensor) => tf.reshape(tf.tile(tf.expandDims(y, 1), [1, H / KV, 1, 1]), [H, T, D]);
      const k = repeat(this.rotate(heads(this.linear(xn, this.get(`${p}self_attn.k_proj.weight`), lora('k_proj')), KV), cos, sin));
      const v = repeat(heads(this.linear(xn, this.get(`${p}self_attn.v_proj.weight`), lora('v_proj')), KV));
      const scores = tf.add(tf.matMul(tf.mul(q, 1 / Math.sqrt(D)), k, false, true), mask);
      const attn = tf.matMul(tf.softmax(scores), v);
      const merged = tf.reshape(tf.transpose(attn, [1, 0, 2]), [T, H * D]);
      x = tf.add(x, this.linear(merged, this.get(`${p}self_attn.o_proj.weight`), lora('o_proj')));
      const xm = this.rms(x, this.get(`${p}post_attention_layernorm.weight`));
      const gate = this.linear(xm, this.get(`${p}mlp.gate_proj.weight`));
      const up = this.linear(xm, this.get(`${p}mlp.up_proj.weight`));
      x = tf.add(x, this.linear(tf.mul(tf.mul(gate, tf.sigmoid(gate)), up), this.get(`${p}mlp.down_proj.weight`)));
    }
    const xf = this.rms(x, this.get('model.norm.weight'));
    const logits = tf.matMul(tf.slice(xf, [0, 0], [T - 1, h]) as tf.Tensor2D, (this.w.get('lm_head.weight') ?? E) as tf.Tensor2D, false, true);
    const labels = tf.oneHot(tf.tensor1d(ids.slice(1), 'int32'), V);
    return tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), -1))) as tf.Scalar;
  }
}

// The two families as graph builders. A layer graph is weight-free and shape-generic
// (symbolic B and T): every layer of a model runs through the same session, fed its own
// weights. Module names follow Hugging Face so PEFT's target_modules and tensor names apply.
import { GraphBuilder, type Value } from '../graph/builder';
import type { DType } from '../graph/ir';
import { causalAttention, geluNew, layerNorm, linear, mergeHeads, repeatKv, rmsNorm, rope, silu, splitHeads, type LinearSpec } from './blocks';
import type { ModelConfig } from './config';
import type { LoraConfig } from './lora';

/** A linear module of one layer, with where its weight lives in the checkpoint. */
export interface ModuleSpec extends Omit<LinearSpec, 'lora'> {
  /** Conv1D (GPT-2) stores the weight as [in, out]; Linear as [out, in]. */
  conv1d: boolean;
}

export function layerPrefix(cfg: ModelConfig, layer: number): string {
  return cfg.family === 'gpt2' ? `transformer.h.${layer}.` : `model.layers.${layer}.`;
}

export function layerModules(cfg: ModelConfig): ModuleSpec[] {
  const C = cfg.hidden;
  if (cfg.family === 'gpt2') {
    return [
      { name: 'attn.c_attn', in: C, out: 3 * C, bias: true, conv1d: true },
      { name: 'attn.c_proj', in: C, out: C, bias: true, conv1d: true },
      { name: 'mlp.c_fc', in: C, out: cfg.intermediate, bias: true, conv1d: true },
      { name: 'mlp.c_proj', in: cfg.intermediate, out: C, bias: true, conv1d: true },
    ];
  }
  const q = cfg.heads * cfg.headDim;
  const kv = cfg.kvHeads * cfg.headDim;
  return [
    { name: 'self_attn.q_proj', in: C, out: q, bias: cfg.qkvBias, conv1d: false },
    { name: 'self_attn.k_proj', in: C, out: kv, bias: cfg.qkvBias, conv1d: false },
    { name: 'self_attn.v_proj', in: C, out: kv, bias: cfg.qkvBias, conv1d: false },
    { name: 'self_attn.o_proj', in: q, out: C, bias: false, conv1d: false },
    { name: 'mlp.gate_proj', in: C, out: cfg.intermediate, bias: false, conv1d: false },
    { name: 'mlp.up_proj', in: C, out: cfg.intermediate, bias: false, conv1d: false },
    { name: 'mlp.down_proj', in: cfg.intermediate, out: C, bias: false, conv1d: false },
  ];
}

/** Norm parameters of one layer (names inside the layer) with their sizes. */
export function layerNorms(cfg: ModelConfig): { name: string; size: number }[] {
  const C = cfg.hidden;
  if (cfg.family === 'gpt2') {
    return ['ln_1.weight', 'ln_1.bias', 'ln_2.weight', 'ln_2.bias'].map((name) => ({ name, size: C }));
  }
  return [{ name: 'input_layernorm.weight', size: C }, { name: 'post_attention_layernorm.weight', size: C }];
}

function specs(cfg: ModelConfig, lora: LoraConfig | null, targeted: Set<string>): Map<string, LinearSpec> {
  return new Map(layerModules(cfg).map((m) => [m.name, {
    name: m.name, in: m.in, out: m.out, bias: m.bias,
    lora: lora && targeted.has(m.name) ? { r: lora.r, scale: lora.scale } : null,
  }]));
}

/**
 * One decoder layer: inputs h (B, T, C), cos/sin (T, D), mask (T, T), the layer's weights and
 * LoRA factors; output `out` (B, T, C).
 */
export function buildLayer(cfg: ModelConfig, lora: LoraConfig | null, targeted: Set<string>, dtype: DType): GraphBuilder {
  const b = new GraphBuilder(`${cfg.family}_layer`);
  const m = specs(cfg, lora, targeted);
  const { hidden: C, heads: H, kvHeads: KV, headDim: D } = cfg;
  const h = b.input('h', dtype, ['B', 'T', C]);
  const mask = b.input('mask', dtype, ['T', 'T']);
  let out: Value;
  if (cfg.family === 'gpt2') {
    const x = layerNorm(b, h, 'ln_1', C, cfg.normEps, dtype);
    const qkv = linear(b, x, m.get('attn.c_attn')!, dtype); // (B, T, 3C)
    const [q, k, v] = [0, 1, 2].map((i) => splitHeads(b, b.slice(qkv, 2, i * C, (i + 1) * C), H, D));
    const attn = mergeHeads(b, causalAttention(b, q, k, v, mask, D, dtype), H, D);
    const h1 = b.add(h, linear(b, attn, m.get('attn.c_proj')!, dtype));
    const x2 = layerNorm(b, h1, 'ln_2', C, cfg.normEps, dtype);
    const up = geluNew(b, linear(b, x2, m.get('mlp.c_fc')!, dtype), dtype);
    out = b.add(h1, linear(b, up, m.get('mlp.c_proj')!, dtype));
  } else {
    const cos = b.input('cos', dtype, ['T', D]);
    const sin = b.input('sin', dtype, ['T', D]);
    const x = rmsNorm(b, h, 'input_layernorm.weight', C, cfg.normEps, dtype);
    const q = rope(b, splitHeads(b, linear(b, x, m.get('self_attn.q_proj')!, dtype), H, D), cos, sin, D, dtype); // (B, H, T, D)
    const k = rope(b, splitHeads(b, linear(b, x, m.get('self_attn.k_proj')!, dtype), KV, D), cos, sin, D, dtype); // (B, KV, T, D)
    const v = splitHeads(b, linear(b, x, m.get('self_attn.v_proj')!, dtype), KV, D);
    const attn = causalAttention(b, q, repeatKv(b, k, KV, H, D), repeatKv(b, v, KV, H, D), mask, D, dtype);
    const h1 = b.add(h, linear(b, mergeHeads(b, attn, H, D), m.get('self_attn.o_proj')!, dtype));
    const x2 = rmsNorm(b, h1, 'post_attention_layernorm.weight', C, cfg.normEps, dtype);
    const gated = b.mul(silu(b, linear(b, x2, m.get('mlp.gate_proj')!, dtype)), linear(b, x2, m.get('mlp.up_proj')!, dtype));
    out = b.add(h1, linear(b, gated, m.get('mlp.down_proj')!, dtype));
  }
  b.output(out, 'out');
  return b;
}

/** Token (and for GPT-2, position) embeddings: ids (B, T) → h (B, T, C). */
export function buildEmbed(cfg: ModelConfig, dtype: DType): GraphBuilder {
  const b = new GraphBuilder(`${cfg.family}_embed`);
  const ids = b.input('ids', 'int64', ['B', 'T']);
  const table = b.input('embed', dtype, [cfg.vocabSize, cfg.hidden]);
  let h = b.op1('Gather', [table, ids], { axis: 0 });
  if (cfg.family === 'gpt2') {
    const positions = b.input('positions', 'int64', ['T']);
    const wpe = b.input('wpe', dtype, [cfg.maxPositions, cfg.hidden]);
    h = b.add(h, b.op1('Gather', [wpe, positions], { axis: 0 }));
  }
  b.output(h, 'h');
  return b;
}

/**
 * Final norm, LM head and the causal-LM loss: inputs h (B, T, C), targets (B, T) int64 (the next
 * token; any id where weight is 0), weights (B, T) 1 where a position counts, count (scalar).
 * loss = −Σ weight·log p(target) / count, Hugging Face's mean over shifted positions.
 */
export function buildHead(cfg: ModelConfig, dtype: DType): GraphBuilder {
  const b = new GraphBuilder(`${cfg.family}_head`);
  const C = cfg.hidden;
  const h = b.input('h', dtype, ['B', 'T', C]);
  const targets = b.input('targets', 'int64', ['B', 'T']);
  const weights = b.input('weights', dtype, ['B', 'T']);
  const count = b.input('count', dtype, []);
  const x = cfg.family === 'gpt2' ? layerNorm(b, h, 'ln_f', C, cfg.normEps, dtype) : rmsNorm(b, h, 'norm.weight', C, cfg.normEps, dtype);
  const lmHead = b.input('lm_head', dtype, [C, cfg.vocabSize]); // pre-transposed
  const logp = b.logSoftmax(b.matmul(x, lmHead), -1); // (B, T, V)
  const picked = b.squeeze(b.op1('GatherElements', [logp, b.unsqueeze(targets, [2])], { axis: 2 }), [2]); // (B, T)
  const total = b.reduceSum(b.mul(picked, weights), [0, 1], false);
  b.output(b.div(b.neg(total), count), 'loss');
  return b;
}

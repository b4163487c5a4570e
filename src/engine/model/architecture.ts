// The two families as graph builders. A layer graph is weight-free and shape-generic
// (symbolic B and T): every layer of a model runs through the same session, fed its own
// weights. Module names follow Hugging Face so PEFT's target_modules and tensor names apply.
import { GraphBuilder } from '../graph/builder';
import type { DType } from '../graph/ir';
import type { LinearSpec } from './blocks';
import type { ModelConfig } from './config';

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

export function specs(cfg: ModelConfig, lora: { r: number; scale: number } | null, targeted: Set<string>): Map<string, LinearSpec> {
  return new Map(layerModules(cfg).map((m) => [m.name, {
    name: m.name, in: m.in, out: m.out, bias: m.bias,
    lora: lora && targeted.has(m.name) ? { r: lora.r, scale: lora.scale } : null,
  }]));
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


// What differs between the model families, one table per family: tensor names, norms, the
// fused projections, the MLP's shape and how positions enter. The graph builders, the loader,
// the predictors and the PEFT export read these tables instead of asking which family it is.
import type { GraphBuilder, Value } from '../graph/builder';
import type { DType } from '../graph/ir';
import { layerNorm, type LinearSpec, rmsNorm } from './blocks';
import type { Family, ModelConfig } from './config';

/** A linear module of one layer, with where its weight lives in the checkpoint. */
export interface ModuleSpec extends Omit<LinearSpec, 'lora'> {
  /** Conv1D (GPT-2) stores the weight as [in, out]; Linear as [out, in]. */
  conv1d: boolean;
}

/** A norm: LayerNorm with `<name>.weight` and `<name>.bias`, or RMSNorm with the weight `name`. */
export interface Norm {
  kind: 'layer' | 'rms';
  name: string;
}

export interface FamilyTable {
  /** Where layer l's tensors live in a checkpoint. */
  layerPrefix(layer: number): string;
  /** The linear modules of a layer, under Hugging Face's names. */
  modules(cfg: ModelConfig): ModuleSpec[];
  /** Norms inside a layer (before attention, before the MLP) and after the last layer. */
  inputNorm: Norm;
  postAttentionNorm: Norm;
  finalNorm: Norm;
  /** Checkpoint names of the token embeddings, learned positions (null: RoPE) and the final norm's prefix. */
  embedTensor: string;
  positionsTensor: string | null;
  finalNormPrefix: string;
  /** q, k and v from one fused projection (split in thirds), or null for separate q/k/v_proj with RoPE. */
  fusedQkv: string | null;
  /** Attention output projection. */
  oProj: string;
  /** The MLP: up, down and (SwiGLU) gate projections; without a gate, GELU (tanh) between up and down, with biases. */
  mlp: { up: string; down: string; gate: string | null };
  /** Weights stored [in, out] (Conv1D): PEFT's fan_in_fan_out. */
  fanInFanOut: boolean;
}

const llama: FamilyTable = {
  layerPrefix: (l) => `model.layers.${l}.`,
  modules(cfg) {
    const C = cfg.hidden;
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
  },
  inputNorm: { kind: 'rms', name: 'input_layernorm.weight' },
  postAttentionNorm: { kind: 'rms', name: 'post_attention_layernorm.weight' },
  finalNorm: { kind: 'rms', name: 'norm.weight' },
  embedTensor: 'model.embed_tokens.weight',
  positionsTensor: null,
  finalNormPrefix: 'model.',
  fusedQkv: null,
  oProj: 'self_attn.o_proj',
  mlp: { up: 'mlp.up_proj', down: 'mlp.down_proj', gate: 'mlp.gate_proj' },
  fanInFanOut: false,
};

const gpt2: FamilyTable = {
  layerPrefix: (l) => `transformer.h.${l}.`,
  modules(cfg) {
    const C = cfg.hidden;
    return [
      { name: 'attn.c_attn', in: C, out: 3 * C, bias: true, conv1d: true },
      { name: 'attn.c_proj', in: C, out: C, bias: true, conv1d: true },
      { name: 'mlp.c_fc', in: C, out: cfg.intermediate, bias: true, conv1d: true },
      { name: 'mlp.c_proj', in: cfg.intermediate, out: C, bias: true, conv1d: true },
    ];
  },
  inputNorm: { kind: 'layer', name: 'ln_1' },
  postAttentionNorm: { kind: 'layer', name: 'ln_2' },
  finalNorm: { kind: 'layer', name: 'ln_f' },
  embedTensor: 'transformer.wte.weight',
  positionsTensor: 'transformer.wpe.weight',
  finalNormPrefix: 'transformer.',
  fusedQkv: 'attn.c_attn',
  oProj: 'attn.c_proj',
  mlp: { up: 'mlp.c_fc', down: 'mlp.c_proj', gate: null },
  fanInFanOut: true,
};

export const FAMILIES: Record<Family, FamilyTable> = { llama, gpt2 };

export function familyOf(cfg: Pick<ModelConfig, 'family'>): FamilyTable {
  return FAMILIES[cfg.family];
}

/** The graph inputs (parameter names) of a norm. */
export function normParams(n: Norm): string[] {
  return n.kind === 'layer' ? [`${n.name}.weight`, `${n.name}.bias`] : [n.name];
}

/** The norm applied to x (…, C). */
export function applyNorm(b: GraphBuilder, x: Value, n: Norm, cfg: ModelConfig, dtype: DType): Value {
  return n.kind === 'layer' ? layerNorm(b, x, n.name, cfg.hidden, cfg.normEps, dtype) : rmsNorm(b, x, n.name, cfg.hidden, cfg.normEps, dtype);
}

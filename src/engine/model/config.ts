// Hugging Face config.json → one normalised config the graph builders read. Architectures
// outside the Llama and GPT-2 families are refused with a sentence saying what is missing.
import { z } from 'zod';
import { UserError } from '../errors';
import { checkValueDepth } from './json';

export type Family = 'llama' | 'gpt2';

export interface ModelConfig {
  family: Family;
  /** The architecture name from config.json, e.g. LlamaForCausalLM. */
  architecture: string;
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  normEps: number;
  tiedEmbeddings: boolean;
  maxPositions: number;
  /** Llama family: rotary embeddings. */
  rope: Rope | null;
  /**
   * Mistral: each token attends to this many tokens at most (sliding_window). Sliding windows are
   * not implemented, so contexts up to the window (where they change nothing) are all it takes.
   */
  slidingWindow?: number | null;
  /** Qwen2 puts biases on q/k/v. */
  qkvBias: boolean;
  act: 'silu' | 'gelu_new';
}

/** Llama 3.1's frequency-dependent RoPE scaling (rope_type "llama3"). */
export interface Llama3Rope {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

/** YaRN (rope_type "yarn"): frequencies blended between scaled and unscaled by a ramp over the dimensions, and cos/sin scaled. */
export interface YarnRope {
  factor: number;
  originalMaxPositions: number;
  betaFast: number;
  betaSlow: number;
  truncate: boolean;
  /** What cos and sin are multiplied by. */
  attentionFactor: number;
}

/** Rotary embeddings: the base, a linear position scale, and Llama 3.1's or YaRN's scaling when configured. */
export interface Rope {
  theta: number;
  linearFactor: number;
  llama3?: Llama3Rope;
  yarn?: YarnRope;
}

const LLAMA_TYPES = ['llama', 'qwen2', 'mistral'];
const SUPPORTED = 'LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM (Llama family) and GPT2LMHeadModel (GPT-2 family)';

const ropeSchema = z.looseObject({
  type: z.string().optional(),
  rope_type: z.string().optional(),
  factor: z.number().optional(),
  low_freq_factor: z.number().optional(),
  high_freq_factor: z.number().optional(),
  original_max_position_embeddings: z.number().optional(),
  attention_factor: z.number().nullish(),
  beta_fast: z.number().nullish(),
  beta_slow: z.number().nullish(),
  mscale: z.number().nullish(),
  mscale_all_dim: z.number().nullish(),
  truncate: z.boolean().optional(),
});

const llamaSchema = z.looseObject({
  vocab_size: z.number().int().positive(),
  hidden_size: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  num_key_value_heads: z.number().int().positive().optional(),
  head_dim: z.number().int().positive().nullish(),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().optional(),
  rope_scaling: ropeSchema.nullish(),
  rope_parameters: ropeSchema.extend({ rope_theta: z.number().optional() }).nullish(),
  tie_word_embeddings: z.boolean().default(false),
  max_position_embeddings: z.number().int().positive().default(2048),
  hidden_act: z.string().default('silu'),
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
  use_sliding_window: z.boolean().optional(),
  sliding_window: z.number().int().positive().nullish(),
});

const gpt2Schema = z.looseObject({
  vocab_size: z.number().int().positive(),
  n_embd: z.number().int().positive(),
  n_layer: z.number().int().positive(),
  n_head: z.number().int().positive(),
  n_inner: z.number().int().positive().nullish(),
  n_positions: z.number().int().positive(),
  layer_norm_epsilon: z.number().positive().default(1e-5),
  activation_function: z.string().default('gelu_new'),
  tie_word_embeddings: z.boolean().default(true),
  scale_attn_weights: z.boolean().default(true),
  scale_attn_by_inverse_layer_idx: z.boolean().default(false),
  reorder_and_upcast_attn: z.boolean().default(false),
});

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
}

export function parseConfig(json: unknown): ModelConfig {
  if (typeof json !== 'object' || json === null) throw new UserError('config.json is not a JSON object.');
  checkValueDepth(json, 'config.json');
  const raw = json as Record<string, unknown>;
  const type = String(raw.model_type ?? '');
  const architecture = Array.isArray(raw.architectures) ? String(raw.architectures[0]) : type;
  if (LLAMA_TYPES.includes(type)) return parseLlama(raw, architecture, type);
  if (type === 'gpt2') return parseGpt2(raw, architecture);
  throw new UserError(
    `This model's architecture (model_type "${type || 'missing'}"${architecture && architecture !== type ? `, ${architecture}` : ''}) is not supported. ` +
      `Supported: ${SUPPORTED}.`,
  );
}

/** The largest linear RoPE scale taken: far beyond any real model's, and short of overflowing positions × scale. */
export const MAX_ROPE_SCALE = 1024;

/** Refuses a linear RoPE scale that is not a positive number up to MAX_ROPE_SCALE; `what` names where it came from. */
export function checkRopeScale(scale: number, what: string): void {
  if (!(Number.isFinite(scale) && scale > 0 && scale <= MAX_ROPE_SCALE)) {
    throw new UserError(`${what} is ${scale}, but a linear RoPE scale must be a positive number up to ${MAX_ROPE_SCALE} (2 doubles the context the model reaches).`);
  }
}

/** Refuses a norm epsilon that is not positive or so large it changes what the norm computes. */
function checkEps(eps: number, name: string): void {
  if (!(eps > 0 && eps <= 0.1)) {
    throw new UserError(`config.json has ${name} ${eps}, but it must be a small positive number (at most 0.1; models use about 1e-5 or 1e-6).`);
  }
}

type LlamaJson = z.infer<typeof llamaSchema>;

type RopeJson = z.infer<typeof ropeSchema>;

/** The pretraining context of a scaled RoPE: original_max_position_embeddings, else max_position_embeddings (as transformers reads it), a positive integer. */
function originalOf(s: RopeJson, maxPositions: number, where: string): number {
  const original = s.original_max_position_embeddings ?? maxPositions;
  if (!(Number.isInteger(original) && original > 0)) {
    throw new UserError(`config.json's ${where}.original_max_position_embeddings is ${original}, but it must be a positive integer (the context the model was pretrained with).`);
  }
  return original;
}

/**
 * Llama 3.1's scaling, checked: a factor of at least 1, high_freq_factor above low_freq_factor
 * (both positive), and the pretraining context as a positive integer.
 */
function llama3Of(s: RopeJson, maxPositions: number, where: string): Llama3Rope {
  const { factor, low_freq_factor: low, high_freq_factor: high } = s;
  const missing = (['factor', 'low_freq_factor', 'high_freq_factor'] as const).filter((k) => s[k] === undefined);
  if (missing.length) throw new UserError(`config.json's ${where} has rope_type "llama3" but no ${missing.join(', ')}: copy the config.json that came with the model.`);
  if (!(factor! >= 1 && factor! <= MAX_ROPE_SCALE)) throw new UserError(`config.json's ${where}.factor is ${factor}, but Llama 3 RoPE scaling needs a factor from 1 to ${MAX_ROPE_SCALE}.`);
  if (!(low! > 0 && high! > low!)) {
    throw new UserError(`config.json's ${where} has low_freq_factor ${low} and high_freq_factor ${high}, but Llama 3 RoPE scaling needs 0 < low_freq_factor < high_freq_factor (Llama 3.1 uses 1 and 4).`);
  }
  return { factor: factor!, lowFreqFactor: low!, highFreqFactor: high!, originalMaxPositions: originalOf(s, maxPositions, where) };
}

/** YaRN's magnitude correction for a scale: 0.1·m·ln(scale) + 1 above 1. */
const yarnMscale = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);

/**
 * YaRN's scaling, checked, with transformers' defaults: the factor from the positions when not
 * given, beta_fast 32 and beta_slow 1, truncated ramp bounds, and the attention factor from mscale.
 */
function yarnOf(s: RopeJson, maxPositions: number, where: string): YarnRope {
  const originalMaxPositions = originalOf(s, maxPositions, where);
  const factor = s.factor ?? maxPositions / originalMaxPositions;
  if (!(factor > 0 && factor <= MAX_ROPE_SCALE)) throw new UserError(`config.json's ${where}.factor is ${factor}, but YaRN RoPE scaling needs a positive factor up to ${MAX_ROPE_SCALE}.`);
  const betaFast = s.beta_fast || 32;
  const betaSlow = s.beta_slow || 1;
  if (!(betaFast > 0 && betaSlow > 0)) throw new UserError(`config.json's ${where} has beta_fast ${betaFast} and beta_slow ${betaSlow}, but YaRN needs both positive (usually 32 and 1).`);
  const attentionFactor = s.attention_factor ?? (s.mscale && s.mscale_all_dim ? yarnMscale(factor, s.mscale) / yarnMscale(factor, s.mscale_all_dim) : yarnMscale(factor));
  if (!(attentionFactor > 0 && Number.isFinite(attentionFactor))) throw new UserError(`config.json's ${where}.attention_factor is ${attentionFactor}, but it must be a positive number.`);
  return { factor, originalMaxPositions, betaFast, betaSlow, truncate: s.truncate ?? true, attentionFactor };
}

/**
 * The rotary embedding: theta, the linear scale, and Llama 3.1's scaling. transformers ≥ 5
 * writes rope_parameters; older configs write rope_scaling. Whichever names a non-default scaling wins.
 */
function ropeOf(c: LlamaJson): Rope {
  const kind = (s: { rope_type?: string; type?: string } | null | undefined) => s?.rope_type ?? s?.type ?? 'default';
  const scaling = [c.rope_parameters, c.rope_scaling].find((s) => s && kind(s) !== 'default') ?? c.rope_parameters ?? c.rope_scaling ?? null;
  const ropeType = kind(scaling);
  const where = scaling === c.rope_parameters ? 'rope_parameters' : 'rope_scaling';
  if (!['default', 'linear', 'llama3', 'yarn'].includes(ropeType)) {
    throw new UserError(`RoPE scaling "${ropeType}" is not supported; only linear position scaling, Llama 3's ("llama3") and YaRN ("yarn") are.`);
  }
  const theta = c.rope_parameters?.rope_theta ?? c.rope_theta ?? 10000;
  if (!(theta > 0)) throw new UserError(`config.json has rope_theta ${theta}, but the RoPE base must be a positive number (usually 10000 or more).`);
  if (ropeType === 'llama3') return { theta, linearFactor: 1, llama3: llama3Of(scaling!, c.max_position_embeddings, where) };
  if (ropeType === 'yarn') return { theta, linearFactor: 1, yarn: yarnOf(scaling!, c.max_position_embeddings, where) };
  const linearFactor = ropeType === 'linear' ? (scaling?.factor ?? 1) : 1;
  checkRopeScale(linearFactor, `The RoPE scaling factor in config.json (${where}.factor)`);
  return { theta, linearFactor };
}

function parseLlama(raw: Record<string, unknown>, architecture: string, type: string): ModelConfig {
  const r = llamaSchema.safeParse(raw);
  if (!r.success) throw new UserError(`config.json does not describe a ${type} model: ${issues(r.error)}.`);
  const c = r.data;
  if (c.hidden_act !== 'silu') throw new UserError(`hidden_act "${c.hidden_act}" is not supported; the Llama family here uses silu.`);
  if (c.attention_bias && type === 'llama') throw new UserError('attention_bias is not supported for Llama models.');
  if (c.mlp_bias) throw new UserError('mlp_bias is not supported.');
  if (c.use_sliding_window) throw new UserError('Sliding-window attention (use_sliding_window) is not supported.');
  const rope = ropeOf(c);
  checkEps(c.rms_norm_eps, 'rms_norm_eps');
  const heads = c.num_attention_heads;
  const kvHeads = c.num_key_value_heads ?? heads;
  if (heads % kvHeads !== 0) throw new UserError(`num_attention_heads (${heads}) is not a multiple of num_key_value_heads (${kvHeads}).`);
  const headDim = c.head_dim ?? c.hidden_size / heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new UserError(`head dimension ${headDim} must be an even integer.`);
  return {
    family: 'llama',
    architecture,
    vocabSize: c.vocab_size,
    hidden: c.hidden_size,
    layers: c.num_hidden_layers,
    heads,
    kvHeads,
    headDim,
    intermediate: c.intermediate_size,
    normEps: c.rms_norm_eps,
    tiedEmbeddings: c.tie_word_embeddings,
    maxPositions: c.max_position_embeddings,
    rope,
    slidingWindow: type === 'mistral' ? (c.sliding_window ?? null) : null,
    qkvBias: type === 'qwen2' || c.attention_bias,
    act: 'silu',
  };
}

function parseGpt2(raw: Record<string, unknown>, architecture: string): ModelConfig {
  const r = gpt2Schema.safeParse(raw);
  if (!r.success) throw new UserError(`config.json does not describe a GPT-2 model: ${issues(r.error)}.`);
  const c = r.data;
  if (!['gelu_new', 'gelu_pytorch_tanh'].includes(c.activation_function)) {
    throw new UserError(`activation_function "${c.activation_function}" is not supported; GPT-2 models here use gelu_new.`);
  }
  if (!c.scale_attn_weights || c.scale_attn_by_inverse_layer_idx || c.reorder_and_upcast_attn) {
    throw new UserError('GPT-2 attention variants (scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn, unscaled attention) are not supported.');
  }
  checkEps(c.layer_norm_epsilon, 'layer_norm_epsilon');
  if (c.n_embd % c.n_head !== 0) throw new UserError(`n_embd (${c.n_embd}) is not a multiple of n_head (${c.n_head}).`);
  return {
    family: 'gpt2',
    architecture,
    vocabSize: c.vocab_size,
    hidden: c.n_embd,
    layers: c.n_layer,
    heads: c.n_head,
    kvHeads: c.n_head,
    headDim: c.n_embd / c.n_head,
    intermediate: c.n_inner ?? 4 * c.n_embd,
    normEps: c.layer_norm_epsilon,
    tiedEmbeddings: c.tie_word_embeddings,
    maxPositions: c.n_positions,
    rope: null,
    qkvBias: true,
    act: 'gelu_new',
  };
}

/** The longest context the model reaches as configured: its positions, times the linear RoPE scale, and no more than its sliding window. */
export function contextReach(cfg: ModelConfig): number {
  const yarn = cfg.rope?.yarn;
  const positions = yarn ? Math.max(cfg.maxPositions, Math.floor(yarn.originalMaxPositions * yarn.factor)) : cfg.maxPositions;
  return Math.min(Math.floor(positions * (cfg.rope?.linearFactor ?? 1)), cfg.slidingWindow ?? Infinity);
}

/** Refuses a context beyond a sliding attention window, which is not implemented (within it, attention is the same as full). */
export function checkWindow(cfg: ModelConfig, ctx: number): void {
  const w = cfg.slidingWindow;
  if (w && ctx > w) {
    throw new UserError(
      `A context of ${ctx} tokens is longer than this model's sliding attention window of ${w} tokens (sliding_window in config.json), ` +
        `and sliding-window attention is not supported here: use a context of at most ${w} tokens.`,
    );
  }
}

/** Refuses a context the model cannot reach, saying how far it goes and what scale would reach it. */
export function checkContext(cfg: ModelConfig, ctx: number): void {
  checkWindow(cfg, ctx);
  const reach = contextReach(cfg);
  if (ctx <= reach) return;
  if (!cfg.rope) {
    throw new UserError(
      `A context of ${ctx} tokens is longer than this model can take: it has ${cfg.maxPositions} learned positions, which cannot be scaled, so ${cfg.maxPositions} is the most.`,
    );
  }
  if (cfg.rope.llama3 || cfg.rope.yarn) {
    const kind = cfg.rope.llama3 ? 'Llama 3' : 'YaRN';
    throw new UserError(`A context of ${ctx} tokens is longer than this model reaches: ${reach} tokens (with its ${kind} RoPE scaling); use a context of at most ${reach} tokens.`);
  }
  const scale = Math.ceil(ctx / cfg.maxPositions);
  throw new UserError(
    `A context of ${ctx} tokens is longer than this model reaches: ${cfg.maxPositions} positions × RoPE scale ${cfg.rope.linearFactor} = ${reach} tokens. ` +
      `A linear RoPE scale of ${scale} (--rope-scale ${scale}) reaches ${cfg.maxPositions * scale}.`,
  );
}

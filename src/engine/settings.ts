// Every run setting, with the only defaults, as one schema. The CLI's options, the worker, the
// page and the checkpoint decoder read it; a new default (a model, a context, a mode) changes here.
import { z } from 'zod';
import { UserError } from './errors';

/**
 * The models that ship under the studio's public/ folder, each with its fine-tuning data and
 * the run settings it starts with. The first is the default of the page and of `lemo`; the page
 * opens another with `?model=NAME`.
 */
export const BUNDLED_MODELS = {
  /** 9.5 M-parameter Llama pretrained on public-domain books (context 2048), with predictors and a tuned policy. */
  'lemo-books': {
    model: 'models/lemo-books',
    data: 'data/books-long/train.jsonl.gz',
    heldout: 'data/books-long/heldout.jsonl.gz',
    settings: {},
  },
  /**
   * The small 6.25 M-parameter test model (context 1024), on the openings of the same books
   * (tools/book-model/make_short.py): a page opened on it counts their tokens in a tenth of the time.
   */
  'lemo-tiny': {
    model: 'models/lemo-tiny',
    data: 'data/books-short/train.jsonl.gz',
    heldout: 'data/books-short/heldout.jsonl.gz',
    settings: { ctx: 256 },
  },
} as const;
export type BundledModel = keyof typeof BUNDLED_MODELS;

/** Where the shells find the default model and data (under the studio's public/ folder). */
export const DEFAULT_PATHS = BUNDLED_MODELS['lemo-books'];

export const SPARSITY_MODES = ['dense', 'oracle', 'lemo'] as const;
export type SparsityMode = (typeof SPARSITY_MODES)[number];

/**
 * Where saved activations wait for their backward: none (where they are computed), host (host
 * memory: off WebGPU's buffers), disk (files of a temporary folder; the command line only).
 */
export const OFFLOAD_MODES = ['none', 'host', 'disk'] as const;
export type OffloadMode = (typeof OFFLOAD_MODES)[number];

/** full: causal attention over the whole window; s2: LongLoRA's shifted sparse attention while training. */
export const ATTENTION_MODES = ['full', 's2'] as const;

// Types are checked where settings enter; ranges are checked where they are used, with the
// sentences a user sees there.
export const trainSettingsSchema = z.object({
  /** Tokens per training window: the default model's pretraining context. */
  ctx: z.number().default(2048),
  /**
   * Linear RoPE position scale of the run (Llama family): the model reaches its positions × this
   * many tokens; null: the scale the model was loaded with.
   */
  ropeScale: z.number().nullable().default(null),
  /** Optimizer steps of a run. */
  steps: z.number().default(20),
  /** Windows per step. */
  batch: z.number().default(1),
  /** AdamW's learning rate (its peak, under a schedule). */
  lr: z.number().default(1e-3),
  /**
   * The learning rate over the run, as transformers' schedulers: constant, or cosine to 0 over the
   * steps; either after `warmup` steps rising linearly from 0.
   */
  schedule: z.enum(['constant', 'cosine']).default('constant'),
  warmup: z.number().default(0),
  /** AdamW's decoupled weight decay of the LoRA factors. */
  weightDecay: z.number().default(0),
  /** LoRA rank and alpha (the update is scaled by alpha / r). */
  loraR: z.number().default(8),
  loraAlpha: z.number().default(16),
  /** PEFT target_modules; empty means the family's attention projections. */
  targetModules: z.array(z.string()).default([]),
  /** Seed of the LoRA initialisation and of the data order. */
  seed: z.number().default(0),
  /**
   * dense: every token in every layer; oracle: blocks chosen from q·kᵀ block scores; lemo: blocks
   * chosen by the loaded predictors (their block size replaces `block`). Left at this default, a
   * model folder without predictors trains with the oracle (the page and `lemo train` both say so).
   */
  sparsity: z.enum(SPARSITY_MODES).default('lemo'),
  /**
   * full, or s2: while training, tokens attend only within groups of `group` original positions,
   * half of the heads with the groups shifted by half a group (LongLoRA's S²-Attn, without its
   * wrap-around). Evaluation always attends fully.
   */
  attention: z.enum(ATTENTION_MODES).default('full'),
  /** Tokens per S²-Attn group; null: a quarter of the context (LongLoRA's). */
  group: z.number().nullable().default(null),
  /** Tokens per block. */
  block: z.number().default(32),
  /** Keep ratio of the token-eliminating layers under the paper's default policy. */
  keepRatio: z.number().default(0.4),
  /** Per layer: null (dense), a keep ratio or {"threshold": x}; replaces the paper's default when given. */
  policy: z.array(z.union([z.number(), z.null(), z.object({ threshold: z.number(), predicted: z.number().optional() })])).nullable().default(null),
  /**
   * Share of MLP channels the backward keeps, in every layer of a sparse run (1: all); null: the
   * model's policy file's share when its policy is used, else all.
   */
  mlpKeep: z.number().nullable().default(null),
  /** Saved activations offloaded between each layer's forward and backward (same losses and gradients). */
  offload: z.enum(OFFLOAD_MODES).default('none'),
  /** Write a checkpoint every this many steps (0: never), where the shell keeps them. */
  checkpointEvery: z.number().default(5),
  /** lemo mode: measure the predictors' recall against the oracle every this many steps (0: never). */
  recallEvery: z.number().default(0),
});

export type TrainSettings = z.infer<typeof trainSettingsSchema>;

/** The defaults of every run setting: the schema's, and nowhere else. */
export const DEFAULT_SETTINGS: TrainSettings = trainSettingsSchema.parse({});

/** What the studio adds to a run: the engine choice, held-out evaluation, and recall plotted as it trains. */
export const STUDIO_DEFAULTS = {
  provider: 'auto' as 'auto' | 'wasm' | 'webgpu',
  /** Held-out perplexity every this many steps (0: never), on this many chunks of ctx tokens. */
  evalEvery: 5,
  evalChunks: 4,
  /** The page plots recall per layer, so a lemo run measures it every few steps. */
  recallEvery: 5,
};

/** `lemo grad`, a parity tool: dense gradients unless a mode or kept blocks are asked for. */
export const GRAD_DEFAULTS = { sparsity: 'dense' as SparsityMode };

/** `lemo bench`: a few steps per (mode, context) on the same windows. */
export const BENCH_DEFAULTS = { steps: 3, modes: ['dense', 'oracle'] as SparsityMode[], seed: 0 };

/** Training pattern predictors (`lemo predictors train`, LEMO.md 3). */
export const PREDICTOR_DEFAULTS = {
  block: DEFAULT_SETTINGS.block,
  lr: DEFAULT_SETTINGS.lr,
  seed: 0,
  arch: 'pool' as 'pool' | 'flat',
  objective: 'scores' as 'scores' | 'tiles',
  /** Elastic size: share of hidden units removed, the most often zero. */
  prune: 0.3,
  evalEvery: 0,
  evalWindows: 4,
  /** `lemo predictors eval`: held-out windows. */
  recallWindows: 8,
};

/** Per-layer threshold tuning (`lemo policy tune`, LEMO.md 2, Algorithm 1). */
export const POLICY_TUNE_DEFAULTS = {
  /** Calibration windows, spread over the dataset. */
  windows: 4,
  /** Loss each tuned layer may add, as a share of the dense loss. */
  bound: 0.005,
  /** Threshold factor increment, and the largest factor tried. */
  step: 0.05,
  max: 3,
};

/** Calibrating a threshold policy to the predictors (`lemo policy calibrate`, LEMO.md 3). */
export const CALIBRATE_DEFAULTS = {
  /** Calibration windows, spread over the dataset. */
  windows: 16,
  /** Mean share of the oracle's kept blocks the predictors keep (the paper's predictors: 95.13%). */
  recall: 0.95,
};

/** Text continuation (`lemo generate`, the studio's prompt box). */
export const GENERATE_DEFAULTS = { maxTokens: 64, temperature: 0.8, topP: 0.9, seed: 0 };

/** AdamW's constants besides the learning rate (torch.optim.AdamW's, without decay). */
export const ADAMW_CONSTANTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.0 };

/**
 * The S²-Attn group size these settings ask for over windows of ctx tokens (null: full
 * attention), checked: a positive even number of tokens, at most ctx, dividing ctx.
 */
export function attentionGroup(s: Pick<TrainSettings, 'attention' | 'group'>, ctx: number): number | null {
  if (s.attention !== 's2') return null;
  const g = s.group ?? ctx / 4;
  if (!Number.isInteger(g) || g < 2 || g % 2 !== 0) {
    throw new UserError(s.group === null
      ? `Shifted sparse attention's default group is a quarter of the context (${g} tokens here), which is not a positive even number; give the group size (--group).`
      : `The shifted sparse attention group must be a positive even number of tokens, got ${g}.`);
  }
  if (g > ctx) throw new UserError(`The shifted sparse attention group (${g} tokens) is longer than the ${ctx}-token window; use a group of at most ${ctx} tokens.`);
  if (ctx % g !== 0) throw new UserError(`The ${ctx}-token window is not a multiple of the shifted sparse attention group (${g} tokens); change the context or the group so the group divides it.`);
  return g;
}

/** Settings from anywhere outside the engine (a message, a checkpoint): checked, missing keys defaulted. */
export function parseSettings(x: unknown): TrainSettings | null {
  const r = trainSettingsSchema.safeParse(x);
  return r.success ? r.data : null;
}

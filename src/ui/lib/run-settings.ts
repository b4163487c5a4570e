// The run settings of the form, checked before a run starts: one sentence naming the setting to
// change, or null when they can run. The engine refuses what a model cannot do (a context beyond
// its positions, LoRA targets it lacks); these are the values no run can use, or none should.
import type { Settings } from '../store';
import { attentionGroup } from '../../engine/settings';
import { mlpKeepProblem, policyProblem, targetsProblem } from './policy-table';
import { ropeProblem, type Positions } from './rope-scale';
import { pageSentence } from './page-sentence';

/** A learning rate above this one makes LoRA fine-tuning diverge at once; it is a typo, not a choice. */
export const MAX_LEARNING_RATE = 1;

/** What the loaded model brings: its predictors' block (lemo mode), its policy.json's block, its layers. */
export interface BlockSources {
  predictorsBlock: number | null;
  modelPolicyBlock: number | null;
  layers?: number | null;
  /** The model's positions and the RoPE scale it loaded with. */
  positions?: Positions | null;
}

/** The blocks the loaded model brings, from the page's state. */
export function blockSources(s: { predictors: { block: number } | null; model: { policy?: { block: number } | null; layers?: number; maxPositions?: number; ropeScale?: number | null } | null }): BlockSources {
  const m = s.model;
  const positions = m?.maxPositions !== undefined ? { maxPositions: m.maxPositions, ropeScale: m.ropeScale ?? null } : null;
  return { predictorsBlock: s.predictors?.block ?? null, modelPolicyBlock: m?.policy?.block ?? null, layers: m?.layers ?? null, positions };
}

/** A setting that cannot run, and the form field it belongs to (a data-testid of the form). */
export interface SettingsIssue {
  field: string;
  message: string;
}

const at = (field: string, message: string): SettingsIssue => ({ field, message });

/** Tokens per block the run will use: the predictors' in lemo mode, else the model's policy.json's, else the setting's; null for dense. */
export function runBlock(s: Pick<Settings, 'sparsity' | 'block' | 'policy'>, from: BlockSources): number | null {
  if (s.sparsity === 'dense') return null;
  if (s.sparsity === 'lemo' && from.predictorsBlock !== null) return from.predictorsBlock;
  if (!s.policy && from.modelPolicyBlock !== null) return from.modelPolicyBlock;
  return s.block;
}

const whole = (x: number, min: number) => Number.isInteger(x) && x >= min;

/** Multiples of `block` on either side of `ctx`, as a suggestion. */
function nearMultiples(ctx: number, block: number): string {
  const below = Math.floor(ctx / block) * block;
  return below >= block ? `${below} or ${below + block}` : `${block}`;
}

function countProblem(s: Settings, from: BlockSources): SettingsIssue | null {
  if (!whole(s.steps, 1)) return at('steps', `Steps must be a whole number of at least 1 (it is ${s.steps}): set how many optimizer steps the run takes.`);
  if (!whole(s.batch, 1)) return at('batch', `Batch must be a whole number of at least 1 (it is ${s.batch}): set how many windows each step trains on.`);
  if (!whole(s.ctx, 16)) return at('ctx', `Context length must be a whole number of at least 16 tokens (it is ${s.ctx}).`);
  const rope = ropeProblem(s, from.positions ?? null);
  if (rope) return at('rope-scale', rope);
  if (!whole(s.evalEvery, 0)) return at('eval-every', `Held-out every must be a whole number of steps, 0 for never (it is ${s.evalEvery}).`);
  if (s.evalEvery > 0 && !whole(s.evalChunks, 1)) return at('eval-chunks', `Held-out chunks must be a whole number of at least 1 (it is ${s.evalChunks}), or set held-out every to 0.`);
  if (!whole(s.checkpointEvery, 0)) return at('checkpoint-every', `Checkpoint every must be a whole number of steps, 0 for never (it is ${s.checkpointEvery}).`);
  if (!Number.isInteger(s.seed)) return at('seed', `The seed must be a whole number (it is ${s.seed}).`);
  return null;
}

function optimizerProblem(s: Settings): SettingsIssue | null {
  if (!(s.lr > 0) || !Number.isFinite(s.lr)) return at('lr', `The learning rate must be above 0 (it is ${s.lr}); 0.001 is a good start.`);
  if (s.lr > MAX_LEARNING_RATE) return at('lr', `A learning rate of ${s.lr} is far too large (the run would diverge at once): use one of at most ${MAX_LEARNING_RATE}, such as 0.001.`);
  if (!whole(s.warmup, 0)) return at('warmup', `The warm-up must be a whole number of steps, 0 or more (it is ${s.warmup}).`);
  if (s.warmup >= s.steps) return at('warmup', `A warm-up of ${s.warmup} steps leaves nothing of a ${s.steps}-step run at the full learning rate: use fewer warm-up steps.`);
  if (!(s.weightDecay >= 0 && s.weightDecay < 1)) return at('weight-decay', `The weight decay must be 0 or more and below 1 (it is ${s.weightDecay}).`);
  if (!whole(s.loraR, 1)) return at('lora-r', `LoRA r must be a whole number of at least 1 (it is ${s.loraR}).`);
  if (!(s.loraAlpha > 0) || !Number.isFinite(s.loraAlpha)) return at('lora-alpha', `LoRA alpha must be above 0 (it is ${s.loraAlpha}).`);
  return null;
}

function sparsityProblem(s: Settings, from: BlockSources): SettingsIssue | null {
  const block = runBlock(s, from);
  if (block === null) return null;
  if (!whole(block, 1)) return at('block', `The block must be a whole number of tokens, at least 1 (it is ${block}).`);
  if (!s.policy && from.modelPolicyBlock === null && !(s.keepRatio > 0 && s.keepRatio <= 1)) return at('keep-ratio', `The keep ratio must be above 0 and at most 1 (it is ${s.keepRatio}).`);
  if (s.sparsity === 'lemo' && !whole(s.recallEvery, 0)) return at('recall-every', `Recall every must be a whole number of steps, 0 for never (it is ${s.recallEvery}).`);
  if (s.ctx % block !== 0) return at('ctx', `A context of ${s.ctx} tokens is not a whole number of ${block}-token blocks: use a multiple of ${block}, such as ${nearMultiples(s.ctx, block)}.`);
  return null;
}

/** The engine settings the form adds: LoRA targets, the MLP channel share, the per-layer policy. */
function engineProblem(s: Settings, from: BlockSources): SettingsIssue | null {
  const targets = targetsProblem(s.targetModules);
  if (targets) return at('target-modules', targets);
  try {
    attentionGroup(s, s.ctx);
  } catch (e) {
    return at('group', pageSentence((e as Error).message));
  }
  if (s.sparsity === 'dense') return null;
  const mlp = mlpKeepProblem(s.mlpKeep);
  if (mlp) return at('mlp-keep', mlp);
  const policy = policyProblem(s.policy, from.layers ?? null);
  return policy ? at('policy', policy) : null;
}

/** Why these settings cannot start a run, with the field to change; null when they can. */
export function settingsIssue(s: Settings, from: BlockSources): SettingsIssue | null {
  return countProblem(s, from) ?? optimizerProblem(s) ?? engineProblem(s, from) ?? sparsityProblem(s, from);
}

/** Why these settings cannot start a run, in one sentence naming what to change; null when they can. */
export function settingsProblem(s: Settings, from: BlockSources): string | null {
  return settingsIssue(s, from)?.message ?? null;
}

// --sparsity, --keep, --block, --policy, --mlp-keep, --predictors: how the CLI's commands choose
// kept tokens. Flags become settings; the engine builds the selection from them.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_SETTINGS, isPolicyFile, parsePolicyFile, runPolicy, UserError, type EngineSession, type PolicyFile, type RunPolicy, type Sparsity, type TrainSettings,
} from '../engine/node';
import { POLICY_FILE, readBytes, readJson } from './files';
import { int } from './session';

export interface SparsityFlags {
  sparsity?: string;
  keep?: string;
  block?: string;
  /** True when --block was typed rather than defaulted. */
  blockGiven?: boolean;
  policy?: string;
  mlpKeep?: string;
  predictors?: string;
  attention?: string;
  group?: string;
}

/** --attention and --group as settings (--group only with --attention s2). */
export function attentionSettings(flags: SparsityFlags): Pick<TrainSettings, 'attention' | 'group'> {
  const attention = (flags.attention ?? DEFAULT_SETTINGS.attention) as TrainSettings['attention'];
  if (attention !== 'full' && attention !== 's2') throw new UserError(`--attention must be full or s2, got "${flags.attention}".`);
  if (flags.group !== undefined && attention !== 's2') throw new UserError('--group sets the shifted sparse attention group: add --attention s2, or leave --group out.');
  return { attention, group: flags.group === undefined ? null : int(flags.group, 'group', 2) };
}

/** The predictors file: --predictors, or predictors.safetensors in the model folder. */
export function predictorsFile(flags: SparsityFlags, modelDir: string): string {
  const path = flags.predictors ?? join(modelDir, 'predictors.safetensors');
  if (!existsSync(path)) {
    throw new UserError(flags.predictors ? `Predictors file not found: ${path}` : `The lemo mode needs --predictors FILE (the model folder has no predictors.safetensors); train them with \`lemo predictors train\`.`);
  }
  return path;
}

/** Reads the predictors file into the session (the lemo mode). */
export function loadPredictors(flags: SparsityFlags, modelDir: string, session: EngineSession) {
  const path = predictorsFile(flags, modelDir);
  return { path, summary: session.loadPredictors(readBytes(path, 'predictors file'), path) };
}

/** A policy given inline as JSON or as a file holding it (a list, or a policy file's object), as the per-layer list, unparsed. */
export function policyJson(value: string): unknown {
  const json = existsSync(value) ? readJson(value, 'policy file') : (() => {
    try {
      return JSON.parse(value);
    } catch {
      throw new UserError(`--policy must be a JSON list (one entry per layer) or a file holding one, got "${value}".`);
    }
  })();
  return isPolicyFile(json) ? parsePolicyFile(json, existsSync(value) ? value : '--policy').policy : json;
}

/** The loaded model: its folder and its policy.json (the ModelSummary's), which the engine uses when no --policy is given. */
export interface ModelAt {
  dir: string;
  policy?: PolicyFile | null;
}

/**
 * --policy and --block as settings. Without --policy the engine takes the model's policy.json
 * with its block (runPolicy), which is said on stderr; an explicit --block keeps that policy at
 * the block given.
 */
export function policySettings(flags: SparsityFlags, model: ModelAt, layers: number): Pick<TrainSettings, 'policy' | 'block' | 'mlpKeep'> & { run: RunPolicy } {
  const mlpKeep = flags.mlpKeep === undefined ? null : Number(flags.mlpKeep);
  const s = { policy: flags.policy ? (policyJson(flags.policy) as TrainSettings['policy']) : null, block: flags.block === undefined ? DEFAULT_SETTINGS.block : int(flags.block, 'block'), mlpKeep };
  const run = runPolicy({ ...s, keepRatio: DEFAULT_SETTINGS.keepRatio }, layers, model.policy ?? null);
  if (run.source !== 'model') return { ...s, run };
  const path = join(model.dir, POLICY_FILE);
  const mlp = run.mlpKeep === null ? '' : ` (the backward keeps ${run.mlpKeep} of the MLP channels)`;
  if (!flags.blockGiven) {
    process.stderr.write(`policy: ${path}${mlp}\n`);
    return { ...s, run };
  }
  process.stderr.write(`policy: ${path}${s.block === run.block ? '' : ` (tuned at block ${run.block}; this run uses --block ${s.block})`}${mlp}\n`);
  return { policy: model.policy!.policy, block: s.block, mlpKeep: run.mlpKeep, run: { ...run, block: s.block } };
}

/** The settings these flags give a mode. */
export function settingsFrom(flags: SparsityFlags, mode: string, model: ModelAt, layers: number): TrainSettings {
  if (!['dense', 'oracle', 'lemo'].includes(mode)) throw new UserError(`--sparsity must be dense, oracle or lemo, got "${mode}".`);
  const { policy, block, mlpKeep } = mode === 'dense' ? { policy: null, block: DEFAULT_SETTINGS.block, mlpKeep: null } : policySettings(flags, model, layers);
  return { ...DEFAULT_SETTINGS, sparsity: mode as TrainSettings['sparsity'], block, policy, mlpKeep, ...attentionSettings(flags) };
}

/** The sparsity of a mode under these flags (--keep forces blocks), with the lemo mode's predictors loaded. */
export async function sparsityFrom(flags: SparsityFlags, mode: string, session: EngineSession, model: ModelAt, T: number): Promise<Sparsity> {
  if (flags.keep) return session.sparsityFor({ ...settingsFrom(flags, 'dense', model, 0), ctx: T }, { json: readJson(flags.keep, 'keep file'), T });
  const settings = { ...settingsFrom(flags, mode, model, session.config.layers), ctx: T };
  if (mode === 'lemo') loadPredictors(flags, model.dir, session);
  return session.sparsityFor(settings);
}

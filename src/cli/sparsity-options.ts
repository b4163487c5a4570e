// --sparsity, --keep, --block, --policy, --mlp-keep, --predictors: how the CLI's commands choose
// kept tokens. Flags become settings; the engine builds the selection from them.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { artifactPolicy, DEFAULT_SETTINGS, parsePolicy, UserError, type EngineSession, type Sparsity, type TrainSettings } from '../engine/node';
import { readBytes, readJson } from './files';
import { int } from './session';

export interface SparsityFlags {
  sparsity?: string;
  keep?: string;
  block?: string;
  policy?: string;
  mlpKeep?: string;
  predictors?: string;
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

/** The policy of --policy, or the paper artifact's. */
export function policyFrom(flags: SparsityFlags, layers: number) {
  return flags.policy ? parsePolicy(policyJson(flags.policy), layers) : artifactPolicy(layers);
}

/** A policy given inline as JSON or as a file holding it, unparsed. */
export function policyJson(value: string): unknown {
  return existsSync(value) ? readJson(value, 'policy file') : (() => {
    try {
      return JSON.parse(value);
    } catch {
      throw new UserError(`--policy must be a JSON list (one entry per layer) or a file holding one, got "${value}".`);
    }
  })();
}

/** The settings these flags give a mode. */
export function settingsFrom(flags: SparsityFlags, mode: string): TrainSettings {
  if (!['dense', 'oracle', 'lemo'].includes(mode)) throw new UserError(`--sparsity must be dense, oracle or lemo, got "${mode}".`);
  return {
    ...DEFAULT_SETTINGS,
    sparsity: mode as TrainSettings['sparsity'],
    block: int(flags.block ?? String(DEFAULT_SETTINGS.block), 'block'),
    policy: flags.policy ? (policyJson(flags.policy) as TrainSettings['policy']) : null,
    mlpKeep: flags.mlpKeep === undefined ? null : Number(flags.mlpKeep),
  };
}

/** The sparsity of a mode under these flags (--keep forces blocks), with the lemo mode's predictors loaded. */
export async function sparsityFrom(flags: SparsityFlags, mode: string, session: EngineSession, modelDir: string, T: number): Promise<Sparsity> {
  const settings = settingsFrom(flags, mode);
  if (flags.keep) return session.sparsityFor(settings, { json: readJson(flags.keep, 'keep file'), T });
  if (mode === 'lemo') loadPredictors(flags, modelDir, session);
  return session.sparsityFor(settings);
}

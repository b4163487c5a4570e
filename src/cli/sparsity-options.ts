// --sparsity, --keep, --block, --policy: how the CLI's commands choose kept tokens.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Runtime } from '../engine/runtime/runtime';
import { DevicePredictors, PredictorSet } from '../engine/sparsity/predictor';
import { UserError } from '../engine/errors';
import type { ModelConfig } from '../engine/model/config';
import { parseKeepSpec } from '../engine/sparsity/blocks';
import { artifactPolicy, parsePolicy } from '../engine/sparsity/policy';
import { isPolicyFile, parsePolicyFile } from '../engine/sparsity/policy-file';
import type { Sparsity } from '../engine/train/trainer';
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

/** Reads and uploads the predictors for the lemo mode. */
export async function loadPredictors(flags: SparsityFlags, modelDir: string, rt: Runtime, cfg: ModelConfig): Promise<DevicePredictors> {
  const path = predictorsFile(flags, modelDir);
  return DevicePredictors.upload(rt, PredictorSet.fromBytes(readBytes(path, 'predictors file'), path), cfg);
}

/** The policy of --policy, or the paper artifact's. */
export function policyFrom(flags: SparsityFlags, layers: number) {
  return flags.policy ? readPolicy(flags.policy, layers) : artifactPolicy(layers);
}

/** sparsityFrom, with the lemo mode's predictors read and uploaded. */
export async function sparsityWithPredictors(flags: SparsityFlags, mode: string, cfg: ModelConfig, T: number, rt: Runtime, modelDir: string): Promise<Sparsity> {
  if (mode !== 'lemo' || flags.keep) return sparsityFrom(flags, mode, cfg, T);
  const mlpKeep = flags.mlpKeep === undefined ? undefined : Number(flags.mlpKeep);
  return { mode: 'lemo', predictors: await loadPredictors(flags, modelDir, rt, cfg), policy: policyFrom(flags, cfg.layers), mlpKeep };
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

function readPolicy(value: string, layers: number) {
  return parsePolicy(policyJson(value), layers);
}

export function sparsityFrom(flags: SparsityFlags, mode: string, cfg: ModelConfig, T: number): Sparsity {
  const mlpKeep = flags.mlpKeep === undefined ? undefined : Number(flags.mlpKeep);
  if (flags.keep) return { mode: 'keep', spec: parseKeepSpec(JSON.parse(readFileSync(flags.keep, 'utf8')), cfg.layers, T), mlpKeep };
  if (mode === 'dense') return { mode: 'dense' };
  if (mode === 'oracle') {
    const policy = policyFrom(flags, cfg.layers);
    return { mode: 'oracle', block: int(flags.block ?? '64', 'block'), policy, mlpKeep };
  }
  throw new UserError(`--sparsity must be dense, oracle or lemo, got "${mode}".`);
}

// --sparsity, --keep, --block, --policy: how the CLI's commands choose kept tokens.
import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../engine/errors';
import type { ModelConfig } from '../engine/model/config';
import { parseKeepSpec } from '../engine/sparsity/blocks';
import { artifactPolicy, parsePolicy } from '../engine/sparsity/policy';
import type { Sparsity } from '../engine/train/trainer';
import { readJson } from './files';
import { int } from './session';

export interface SparsityFlags {
  sparsity?: string;
  keep?: string;
  block?: string;
  policy?: string;
  mlpKeep?: string;
}

/** A policy given inline as JSON or as a file holding it. */
function readPolicy(value: string, layers: number) {
  const json = existsSync(value) ? readJson(value, 'policy file') : (() => {
    try {
      return JSON.parse(value);
    } catch {
      throw new UserError(`--policy must be a JSON list (one entry per layer) or a file holding one, got "${value}".`);
    }
  })();
  return parsePolicy(json, layers);
}

export function sparsityFrom(flags: SparsityFlags, mode: string, cfg: ModelConfig, T: number): Sparsity {
  const mlpKeep = flags.mlpKeep === undefined ? undefined : Number(flags.mlpKeep);
  if (flags.keep) return { mode: 'keep', spec: parseKeepSpec(JSON.parse(readFileSync(flags.keep, 'utf8')), cfg.layers, T), mlpKeep };
  if (mode === 'dense') return { mode: 'dense' };
  if (mode === 'oracle') {
    const policy = flags.policy ? readPolicy(flags.policy, cfg.layers) : artifactPolicy(cfg.layers);
    return { mode: 'oracle', block: int(flags.block ?? '64', 'block'), policy, mlpKeep };
  }
  throw new UserError(`--sparsity must be dense or oracle, got "${mode}".`);
}

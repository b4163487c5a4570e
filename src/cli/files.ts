// Disk access for the CLI: the engine itself takes bytes and parsed JSON, never paths.
import { readFileSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError, type ModelFiles } from '../engine/node';

export function readJson(path: string, what: string): unknown {
  if (!existsSync(path)) throw new UserError(`${what} not found: ${path}`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${what} (${path}) is not valid JSON: ${(e as Error).message}`);
  }
}

export function readBytes(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new UserError(`${what} not found: ${path}`);
  return new Uint8Array(readFileSync(path));
}

/** The model folder's policy file: when present, its default keep policy. */
export const POLICY_FILE = 'policy.json';

/**
 * A model folder's config and weights; with `policy`, its policy.json as read when it has one
 * (the engine validates it), for the commands whose runs it is the default policy of.
 */
export function readModelDir(dir: string, opts: { policy?: boolean } = {}): ModelFiles & { policy?: unknown } {
  const policy = join(dir, POLICY_FILE);
  return {
    config: readJson(join(dir, 'config.json'), 'config.json'),
    weights: readBytes(join(dir, 'model.safetensors'), 'model.safetensors'),
    policy: opts.policy && existsSync(policy) ? readJson(policy, POLICY_FILE) : undefined,
  };
}

export function readAdapterDir(dir: string): { config: unknown; weights: Uint8Array } {
  return {
    config: readJson(join(dir, 'adapter_config.json'), 'adapter_config.json'),
    weights: readBytes(join(dir, 'adapter_model.safetensors'), 'adapter_model.safetensors'),
  };
}

export function writeFile(path: string, data: Uint8Array | string): void {
  writeFileSync(path, data);
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

// The keep policy a run uses, in one place: the settings' own policy when they give one; else
// the model folder's policy file (policy.json, a property of the model), with its block size;
// else the paper artifact's ratio policy at the settings' block and keep ratio. The MLP channel
// share follows the same rule: the settings' when given, else the policy file's.
import type { TrainSettings } from '../settings';
import { artifactPolicy, parsePolicy, type LayerPolicy } from './policy';
import { parsePolicyFile, policyOfFile, type PolicyFile } from './policy-file';

export type { PolicyFile };

export type PolicySource = 'settings' | 'model' | 'artifact';

export interface RunPolicy {
  policy: LayerPolicy[];
  block: number;
  source: PolicySource;
  /** Share of MLP channels the backward keeps in every layer (LEMO.md 2); null: all. */
  mlpKeep: number | null;
}

/** The rule: no explicit policy → the model's policy.json (and its block) → the artifact's ratio policy. */
export function runPolicy(s: Pick<TrainSettings, 'policy' | 'block' | 'keepRatio' | 'mlpKeep'>, layers: number, modelPolicy: PolicyFile | null): RunPolicy {
  const mlpKeep = exactIfAll(s.mlpKeep);
  if (s.policy) return { policy: parsePolicy(s.policy, layers), block: s.block, source: 'settings', mlpKeep };
  if (modelPolicy) return { policy: policyOfFile(modelPolicy, layers), block: modelPolicy.block, source: 'model', mlpKeep: s.mlpKeep === null ? exactIfAll(modelPolicy.mlpKeep ?? null) : mlpKeep };
  return { policy: artifactPolicy(layers, s.keepRatio), block: s.block, source: 'artifact', mlpKeep };
}

/** A channel share of 1 keeps every channel: the exact MLP. */
const exactIfAll = (x: number | null): number | null => (x === 1 ? null : x);

/**
 * The settings with the model's policy written in when the rule picks it, so that what a run
 * records (its checkpoints, its events) is the policy and block it ran with.
 */
export function pinnedSettings(s: TrainSettings, layers: number, modelPolicy: PolicyFile | null): TrainSettings {
  if (s.sparsity === 'dense') return s;
  const r = runPolicy(s, layers, modelPolicy);
  return r.source === 'model' ? { ...s, policy: modelPolicy!.policy, block: r.block, mlpKeep: s.mlpKeep ?? modelPolicy!.mlpKeep ?? null } : s;
}

/** A model folder's policy.json as read (JSON, or undefined when the folder has none), validated against the model's layer count. */
export function modelPolicyOf(json: unknown, layers: number): PolicyFile | null {
  return json === undefined || json === null ? null : parsePolicyFile(json, 'policy.json', layers);
}

// The per-layer keep policy as the settings form edits it: one row per layer, dense, a keep
// ratio or a threshold. Until a row is edited the table shows the policy a run would use: the
// model folder's policy.json when it has one, else the paper's (first half and last layer dense).
import type { TrainSettings } from '../../engine/settings';

export type PolicyEntry = NonNullable<TrainSettings['policy']>[number];
export type EntryKind = 'dense' | 'keep' | 'threshold';

/** The paper's default policy at a keep ratio, as entries. */
export function paperPolicy(layers: number, keep: number): PolicyEntry[] {
  return Array.from({ length: layers }, (_, l) => (l < layers / 2 || l === layers - 1 ? null : keep));
}

/** The policy a run with these settings uses, as the table shows it, and where it comes from. */
export function shownPolicy(s: Pick<TrainSettings, 'policy' | 'keepRatio'>, layers: number, modelPolicy: { policy: PolicyEntry[] } | null): { entries: PolicyEntry[]; source: 'settings' | 'model' | 'paper' } {
  if (s.policy) return { entries: s.policy, source: 'settings' };
  if (modelPolicy) return { entries: modelPolicy.policy, source: 'model' };
  return { entries: paperPolicy(layers, s.keepRatio), source: 'paper' };
}

export function entryKind(e: PolicyEntry): EntryKind {
  return e === null ? 'dense' : typeof e === 'number' ? 'keep' : 'threshold';
}

/** The number a row's field shows: the keep ratio or the threshold factor (none for dense). */
export function entryValue(e: PolicyEntry): number | null {
  return e === null ? null : typeof e === 'number' ? e : e.threshold;
}

/** A row switched to another kind, with a starting value for it. */
export function withKind(e: PolicyEntry, kind: EntryKind, keepRatio: number): PolicyEntry {
  if (kind === entryKind(e)) return e;
  if (kind === 'dense') return null;
  if (kind === 'keep') return keepRatio;
  return { threshold: 1 };
}

/**
 * A row given a new value. A threshold edited by hand drops its "predicted" factor: that one was
 * calibrated for the threshold it replaces.
 */
export function withValue(e: PolicyEntry, value: number): PolicyEntry {
  if (e === null) return null;
  if (typeof e === 'number') return value;
  return value === e.threshold ? e : { threshold: value };
}

/** The list with one row replaced. */
export function editRow(entries: readonly PolicyEntry[], layer: number, entry: PolicyEntry): PolicyEntry[] {
  return entries.map((e, l) => (l === layer ? entry : e));
}

/** Why a per-layer policy cannot run with this model, in one sentence; null when it can. */
export function policyProblem(policy: readonly PolicyEntry[] | null, layers: number | null): string | null {
  if (!policy) return null;
  if (layers !== null && policy.length !== layers) return `The per-layer policy lists ${policy.length} layers but the model has ${layers}: reset it to the model's policy.`;
  for (let l = 0; l < policy.length; l++) {
    const e = policy[l];
    if (typeof e === 'number' && !(e > 0 && e <= 1)) return `Layer ${l}'s keep ratio must be above 0 and at most 1 (it is ${e}).`;
    if (e !== null && typeof e === 'object' && !(e.threshold >= 0 && Number.isFinite(e.threshold))) return `Layer ${l}'s threshold must be a number of 0 or more (it is ${e.threshold}).`;
  }
  return null;
}

/** Target modules as typed: names separated by commas or spaces. */
export function parseTargets(text: string): string[] {
  return text.split(/[\s,]+/).filter((t) => t.length > 0);
}

const MODULE_NAME = /^[A-Za-z_][\w.]*$/;

export function targetsProblem(targets: readonly string[]): string | null {
  const bad = targets.find((t) => !MODULE_NAME.test(t));
  return bad === undefined ? null : `"${bad}" is not a module name: list LoRA target modules such as q_proj, v_proj (letters, digits, _ and .), or leave the field empty for the attention projections.`;
}

export function mlpKeepProblem(mlpKeep: number | null): string | null {
  if (mlpKeep === null || (mlpKeep > 0 && mlpKeep <= 1)) return null;
  return `The MLP channel share must be above 0 and at most 1 (it is ${mlpKeep}): 1 keeps every channel, empty takes the model policy's share.`;
}

// A keep policy as a file (policy.json in a model folder): the per-layer list, the block size
// and context it was made for, and, when `lemo policy tune` wrote it, how it was calibrated.
import { z } from 'zod';
import { UserError } from '../errors';
import { parsePolicy, type LayerPolicy } from './policy';

const ENTRY = 'null (dense), a keep ratio in (0, 1], or {"threshold": x} with x ≥ 0 (and "predicted": y ≥ 0)';

const entrySchema = z.union([z.null(), z.number().gt(0).lte(1), z.strictObject({ threshold: z.number().nonnegative(), predicted: z.number().nonnegative().optional() })]);

/** What `lemo policy calibrate` measured; informative only. */
const calibratedSchema = z.looseObject({
  data: z.string(),
  windows: z.number().int().positive(),
  recall: z.number(),
  predictors: z.string(),
  layers: z.array(z.looseObject({ layer: z.number().int().nonnegative(), factor: z.number(), predicted: z.number(), recall: z.number(), kept: z.number(), oracleKept: z.number() })),
});

/** What `lemo policy tune` measured; informative only (nothing reads it back to decide). */
const tunedSchema = z.looseObject({
  data: z.string(),
  windows: z.number().int().positive(),
  bound: z.number().nonnegative(),
  totalBound: z.number().nonnegative().nullable(),
  step: z.number().positive(),
  denseLoss: z.number(),
  loss: z.number(),
  layers: z.array(z.looseObject({ layer: z.number().int().nonnegative(), factor: z.number(), kept: z.number(), loss: z.number() })),
});

const fileSchema = z.strictObject({
  /** Tokens per block the thresholds were chosen at. */
  block: z.number().int().positive(),
  /** Context length of the calibration windows (null: not recorded). */
  ctx: z.number().int().positive().nullable().default(null),
  policy: z.array(entrySchema).min(1),
  /** Share of MLP channels the backward keeps in every layer (LEMO.md 2); absent or null: all. */
  mlpKeep: z.number().gt(0).lte(1).nullable().optional(),
  tuned: tunedSchema.optional(),
  calibrated: calibratedSchema.optional(),
});

export type PolicyEntry = z.infer<typeof entrySchema>;
export type PolicyFile = z.infer<typeof fileSchema>;
export type TunedRecord = z.infer<typeof tunedSchema>;
export type CalibratedRecord = z.infer<typeof calibratedSchema>;

/** True when JSON looks like a policy file (an object) rather than a bare per-layer list. */
export function isPolicyFile(json: unknown): boolean {
  return typeof json === 'object' && json !== null && !Array.isArray(json);
}

/**
 * Validates a policy file; `layers` (when known) must match its list. A bad file is refused
 * with where it is wrong and what was expected.
 */
export function parsePolicyFile(json: unknown, name = 'policy.json', layers?: number): PolicyFile {
  if (!isPolicyFile(json)) throw new UserError(`${name} must be a JSON object {"block": b, "policy": [one entry per layer], ...}.`);
  const r = fileSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    const layer = i.path[0] === 'policy' && typeof i.path[1] === 'number' ? i.path[1] : null;
    // zod names the failing branch of the union (e.g. "too big"); a user needs the three accepted forms.
    const what = layer === null ? `${i.path.join('.') || 'the file'}: ${i.message}` : `layer ${layer}: expected ${ENTRY}, got ${JSON.stringify((json as { policy: unknown[] }).policy[layer])}`;
    throw new UserError(`${name} is not a valid keep policy: ${what}.`);
  }
  if (layers !== undefined && r.data.policy.length !== layers) {
    throw new UserError(`${name} lists ${r.data.policy.length} layers but the model has ${layers}; it was made for another model.`);
  }
  return r.data;
}

/** The file's per-layer policies for a model of `layers` layers. */
export function policyOfFile(file: PolicyFile, layers: number): LayerPolicy[] {
  return parsePolicy(file.policy, layers);
}

/** The JSON entry of one layer's policy (the form parsePolicy reads). */
export function policyEntry(p: LayerPolicy): PolicyEntry {
  if (p.kind === 'dense') return null;
  if (p.kind === 'ratio') return p.keep;
  return p.predicted === undefined ? { threshold: p.factor } : { threshold: p.factor, predicted: p.predicted };
}

/** A policy file's text (validated on the way out, so what is written can be read back). */
export function policyFileJson(file: PolicyFile): string {
  return `${JSON.stringify(parsePolicyFile(file), null, 2)}\n`;
}

// The RoPE scale field: set for the user when the context passes what the model reaches, with the
// sentence saying why, and back to the model's own scale when the context fits again.
import { MAX_ROPE_SCALE } from '../../engine/model/config';

/** What the loaded model says of its positions: how many, and the linear scale it loaded with (null: not scalable linearly). */
export interface Positions {
  maxPositions: number;
  ropeScale: number | null;
}

export interface RopeChoice {
  ropeScale: number | null;
  /** Why the page set the scale (null: the user's, or the model's own). */
  note: string | null;
}

/**
 * The scale for a new context: when the context passes the reach of the scale in effect (the
 * user's, else the model's), the smallest whole scale that reaches it; when the page had set it
 * and the context now fits the model's own scale, the model's own (null) again.
 */
export function ropeForContext(ctx: number, model: Positions | null, current: RopeChoice): RopeChoice {
  if (!model || model.ropeScale === null || !Number.isInteger(ctx) || ctx < 1) return current;
  const own = model.ropeScale;
  const inEffect = current.ropeScale ?? own;
  const needed = Math.ceil(ctx / model.maxPositions);
  if (ctx > model.maxPositions * inEffect && needed <= MAX_ROPE_SCALE) {
    const note = `Set to ${needed}: ${ctx} tokens pass this model's ${model.maxPositions} positions${own === 1 ? '' : ` × its scale of ${own}`}, and a linear RoPE scale of ${needed} reaches ${model.maxPositions * needed}.`;
    return { ropeScale: needed, note };
  }
  if (current.note !== null && ctx <= model.maxPositions * own) return { ropeScale: null, note: null };
  return current;
}

/** Why the run's RoPE scale cannot run this context (null: it can); the sentence names the field. */
export function ropeProblem(s: { ctx: number; ropeScale: number | null }, model: Positions | null): string | null {
  const x = s.ropeScale;
  if (x !== null && !(Number.isFinite(x) && x > 0 && x <= MAX_ROPE_SCALE)) {
    return `The RoPE scale must be a number above 0 and at most ${MAX_ROPE_SCALE} (it is ${x}): 2 doubles the context the model reaches; empty keeps the model's own.`;
  }
  if (!model) return null;
  if (model.ropeScale === null) return x !== null && x !== 1 ? "This model's positions cannot be scaled linearly (learned positions, or RoPE scaling of its own): empty the RoPE scale." : null;
  const scale = x ?? model.ropeScale;
  const reach = model.maxPositions * scale;
  if (s.ctx <= reach) return null;
  return `A RoPE scale of ${scale} reaches ${reach} tokens (${model.maxPositions} positions × ${scale}), short of the ${s.ctx}-token context: use a RoPE scale of at least ${Math.ceil(s.ctx / model.maxPositions)}, or a shorter context.`;
}

import type { GraphBuilder, Value } from '../builder';
import type { AttrValue, DType, Shape } from '../ir';

export type Attrs = Record<string, AttrValue>;

/** What a gradient rule may use: a builder for backward nodes and access to forward values. */
export interface GradContext {
  b: GraphBuilder;
  /** int64 shape of a forward value, computed on the forward side (so only the shape is saved). */
  shapeOf(v: Value): Value;
  /** Which of the node's inputs need a gradient; a rule may return null for the others. */
  needs: boolean[];
}

export type GradRule = (ctx: GradContext, x: Value[], y: Value[], dy: (Value | null)[], attrs: Attrs) => (Value | null)[];

export interface OpDef {
  /** Validates inputs (throws a sentence naming the op) and returns output types and shapes. */
  infer(x: Value[], attrs: Attrs, b: GraphBuilder): { dtype: DType; shape: Shape }[];
  /** One gradient per input (null where none flows). Absent: the op is not differentiable. */
  grad?: GradRule;
}

export function expectInputs(op: string, x: Value[], min: number, max = min): void {
  if (x.length < min || x.length > max) {
    throw new Error(`${op} takes ${min === max ? min : `${min} to ${max}`} inputs, got ${x.length}`);
  }
}

export function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Reads a constant int64 input (axes, shapes, starts) that must be known when building. */
export function constInts(b: GraphBuilder, v: Value, op: string): number[] {
  const data = b.constData(v.name);
  if (!data) throw new Error(`${op}: input ${v.name} must be a constant`);
  return Array.from(data as ArrayLike<number | bigint>, (x) => Number(x));
}

/**
 * Sums a gradient back down to the shape an input had before broadcasting: leading axes the
 * input lacked and axes where it had size 1 are reduced.
 */
export function unbroadcast(b: GraphBuilder, dy: Value, target: Shape): Value {
  const lead = dy.shape.length - target.length;
  const axes: number[] = [];
  for (let i = 0; i < dy.shape.length; i++) {
    if (i < lead) axes.push(i);
    else if (target[i - lead] === 1 && dy.shape[i] !== 1) axes.push(i);
  }
  if (axes.length === 0) return dy;
  let out = b.reduceSum(dy, axes, true);
  if (lead > 0) out = b.squeeze(out, Array.from({ length: lead }, (_, i) => i));
  return out;
}

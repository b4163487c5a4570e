// ReduceSum / ReduceMean over constant axes. Gradient: expand back to the input's shape.
import { normAxis, constInts, expectInputs, type OpDef, type GradContext, type Attrs } from './types';
import type { Value } from '../builder';
import { isFloat } from '../ir';

function reduce(op: 'ReduceSum' | 'ReduceMean'): OpDef {
  return {
    infer(x, attrs, b) {
      expectInputs(op, x, 2);
      if (!isFloat(x[0].dtype)) throw new Error(`${op}: ${x[0].name} is ${x[0].dtype}; a float type is expected`);
      const rank = x[0].shape.length;
      const axes = constInts(b, x[1], op).map((a) => normAxis(a, rank, op));
      const keep = attrs.keepdims !== 0;
      const shape = keep
        ? x[0].shape.map((d, i) => (axes.includes(i) ? 1 : d))
        : x[0].shape.filter((_, i) => !axes.includes(i));
      return [{ dtype: x[0].dtype, shape }];
    },
    grad(ctx: GradContext, x: Value[], _y: Value[], [dy]: (Value | null)[], attrs: Attrs) {
      const { b } = ctx;
      const rank = x[0].shape.length;
      const axes = constInts(b, x[1], op).map((a) => normAxis(a, rank, op));
      let g = attrs.keepdims === 0 ? b.unsqueeze(dy!, axes) : dy!;
      if (op === 'ReduceMean') {
        const counts = axes.map((a) => x[0].shape[a]);
        if (counts.some((c) => typeof c !== 'number')) throw new Error('ReduceMean: gradient needs static sizes on reduced axes');
        const n = (counts as number[]).reduce((p, c) => p * c, 1);
        g = b.mul(g, b.scalar(1 / n, g.dtype));
      }
      return [b.op1('Expand', [g, ctx.shapeOf(x[0])]), null];
    },
  };
}

export const reduceSum = reduce('ReduceSum');
export const reduceMean = reduce('ReduceMean');

export const reduceMax: OpDef = {
  infer(x, attrs, b) {
    expectInputs('ReduceMax', x, 2);
    const rank = x[0].shape.length;
    const axes = constInts(b, x[1], 'ReduceMax').map((a) => normAxis(a, rank, 'ReduceMax'));
    const keep = attrs.keepdims !== 0;
    const shape = keep ? x[0].shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x[0].shape.filter((_, i) => !axes.includes(i));
    return [{ dtype: x[0].dtype, shape }];
  },
  // To the maxima, shared evenly between ties (as torch.amax): dx = [x = max]·dy / #ties.
  grad(ctx: GradContext, x: Value[], y: Value[], [dy]: (Value | null)[], attrs: Attrs) {
    const { b } = ctx;
    const rank = x[0].shape.length;
    const axes = constInts(b, x[1], 'ReduceMax').map((a) => normAxis(a, rank, 'ReduceMax'));
    const [yk, g] = attrs.keepdims === 0 ? [b.unsqueeze(y[0], axes), b.unsqueeze(dy!, axes)] : [y[0], dy!];
    const hit = b.cast(b.op1('Equal', [x[0], yk]), x[0].dtype);
    const ties = b.op1('ReduceSum', [hit, b.ints(axes)], { keepdims: 1 });
    return [b.mul(hit, b.div(g, ties)), null];
  },
};

/** The k largest along an axis (k a constant): values and int64 indices. No gradient. */
export const topK: OpDef = {
  infer(x, attrs, b) {
    expectInputs('TopK', x, 2);
    const rank = x[0].shape.length;
    const axis = normAxis(Number(attrs.axis ?? -1), rank, 'TopK');
    const [k] = constInts(b, x[1], 'TopK');
    const shape = x[0].shape.map((d, i) => (i === axis ? k : d));
    return [{ dtype: x[0].dtype, shape }, { dtype: 'int64', shape }];
  },
};

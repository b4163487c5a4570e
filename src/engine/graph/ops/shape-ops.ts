// Ops that move data without arithmetic. Gradients move it back.
import type { Dim, Shape } from '../ir';
import { dimFactors, dtypeFromOnnx, isFloat, shapeToString, broadcastShapes } from '../ir';
import type { GraphBuilder, Value } from '../builder';
import { constInts, expectInputs, normAxis, unbroadcast, type OpDef } from './types';

/** A product of dimensions, kept symbolic ("B*T") where any factor is symbolic. */
export function productDim(dims: Dim[]): Dim {
  let n = 1;
  const syms: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') n *= d;
    else syms.push(...d.split('*'));
  }
  if (syms.length === 0) return n;
  syms.sort();
  return n === 1 ? syms.join('*') : [String(n), ...syms].join('*');
}

function factor(dims: Dim[]): { n: number; syms: string[] } {
  let n = 1;
  const syms: string[] = [];
  for (const d of dims) {
    const f = dimFactors(d);
    n *= f.n;
    syms.push(...f.syms);
  }
  return { n, syms };
}

/** The input's shape divided by the product of the other output dims (the -1 of Reshape). */
function inferMinusOne(input: Shape, known: Dim[], op: string): Dim {
  const a = factor(input);
  const k = factor(known);
  const rest = [...a.syms];
  for (const s of k.syms) {
    const i = rest.indexOf(s);
    if (i < 0) throw new Error(`${op}: cannot infer -1 from ${shapeToString(input)} and ${shapeToString(known)}`);
    rest.splice(i, 1);
  }
  if (a.n % k.n !== 0) throw new Error(`${op}: ${shapeToString(input)} does not divide into ${shapeToString(known)}`);
  return productDim([a.n / k.n, ...rest].filter((d) => d !== 1));
}

/** Static shape described by an int64 tensor: a constant, or the output of a Shape node. */
function shapeArg(b: GraphBuilder, v: Value, op: string): Shape {
  const src = b.shapeSources.get(v.name);
  if (src) return src;
  return constInts(b, v, op);
}

export const transpose: OpDef = {
  infer(x, attrs) {
    expectInputs('Transpose', x, 1);
    const perm = attrs.perm as number[];
    if (!perm || perm.length !== x[0].shape.length) throw new Error(`Transpose: perm ${perm} does not match rank ${x[0].shape.length}`);
    return [{ dtype: x[0].dtype, shape: perm.map((p) => x[0].shape[p]) }];
  },
  grad({ b }, _x, _y, [dy], attrs) {
    const perm = attrs.perm as number[];
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [b.transpose(dy!, inv)];
  },
};

export const reshape: OpDef = {
  infer(x, _attrs, b) {
    expectInputs('Reshape', x, 2);
    const target = shapeArg(b, x[1], 'Reshape');
    const copied = target.map((d, i) => (d === 0 ? x[0].shape[i] : d));
    const minus = copied.indexOf(-1);
    if (minus >= 0) copied[minus] = inferMinusOne(x[0].shape, copied.filter((_, i) => i !== minus), 'Reshape');
    return [{ dtype: x[0].dtype, shape: copied }];
  },
  grad: ({ b, shapeOf }, x, _y, [dy]) => [b.op1('Reshape', [dy!, shapeOf(x[0])]), null],
};

export const flatten: OpDef = {
  infer(x, attrs) {
    expectInputs('Flatten', x, 1);
    const axis = normAxis(Number(attrs.axis ?? 1), x[0].shape.length + 1, 'Flatten');
    return [{ dtype: x[0].dtype, shape: [productDim(x[0].shape.slice(0, axis)), productDim(x[0].shape.slice(axis))] }];
  },
  grad: ({ b, shapeOf }, x, _y, [dy]) => [b.op1('Reshape', [dy!, shapeOf(x[0])])],
};

export const unsqueeze: OpDef = {
  infer(x, _attrs, b) {
    expectInputs('Unsqueeze', x, 2);
    const rank = x[0].shape.length + constInts(b, x[1], 'Unsqueeze').length;
    const axes = constInts(b, x[1], 'Unsqueeze').map((a) => normAxis(a, rank, 'Unsqueeze'));
    const shape: Shape = [];
    let j = 0;
    for (let i = 0; i < rank; i++) shape.push(axes.includes(i) ? 1 : x[0].shape[j++]);
    return [{ dtype: x[0].dtype, shape }];
  },
  grad: ({ b }, x, _y, [dy]) => [b.squeeze(dy!, constInts(b, x[1], 'Unsqueeze')), null],
};

export const squeeze: OpDef = {
  infer(x, _attrs, b) {
    expectInputs('Squeeze', x, 2);
    const axes = constInts(b, x[1], 'Squeeze').map((a) => normAxis(a, x[0].shape.length, 'Squeeze'));
    for (const a of axes) if (x[0].shape[a] !== 1) throw new Error(`Squeeze: axis ${a} of ${x[0].name} has size ${x[0].shape[a]}, not 1`);
    return [{ dtype: x[0].dtype, shape: x[0].shape.filter((_, i) => !axes.includes(i)) }];
  },
  grad: ({ b }, x, _y, [dy]) => [b.unsqueeze(dy!, constInts(b, x[1], 'Squeeze').map((a) => normAxis(a, x[0].shape.length, 'Squeeze'))), null],
};

export const expand: OpDef = {
  infer(x, _attrs, b) {
    expectInputs('Expand', x, 2);
    return [{ dtype: x[0].dtype, shape: broadcastShapes(x[0].shape, shapeArg(b, x[1], 'Expand'), 'Expand') }];
  },
  grad: ({ b }, x, _y, [dy]) => [unbroadcast(b, dy!, x[0].shape), null],
};

function sliceParams(b: GraphBuilder, x: Value[]) {
  const starts = constInts(b, x[1], 'Slice');
  const ends = constInts(b, x[2], 'Slice');
  const axes = x[3] ? constInts(b, x[3], 'Slice') : starts.map((_, i) => i);
  if (x[4] && constInts(b, x[4], 'Slice').some((s) => s !== 1)) throw new Error('Slice: only step 1 is supported');
  return axes.map((a, i) => {
    const axis = normAxis(a, x[0].shape.length, 'Slice');
    const dim = x[0].shape[axis];
    if (typeof dim !== 'number') throw new Error(`Slice: axis ${axis} of ${x[0].name} must have a static size`);
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    return { axis, dim, start: clamp(starts[i]), end: clamp(ends[i]) };
  });
}

export const slice: OpDef = {
  infer(x, _attrs, b) {
    expectInputs('Slice', x, 3, 5);
    const shape = [...x[0].shape];
    for (const p of sliceParams(b, x)) shape[p.axis] = Math.max(0, p.end - p.start);
    return [{ dtype: x[0].dtype, shape }];
  },
  grad({ b }, x, _y, [dy]) {
    const rank = x[0].shape.length;
    const pads = new Array<number>(2 * rank).fill(0);
    for (const p of sliceParams(b, x)) {
      pads[p.axis] = p.start;
      pads[rank + p.axis] = p.dim - p.end;
    }
    return [b.op1('Pad', [dy!, b.ints(pads)]), ...x.slice(1).map(() => null)];
  },
};

export const pad: OpDef = {
  infer(x, attrs, b) {
    expectInputs('Pad', x, 2, 3);
    if ((attrs.mode ?? 'constant') !== 'constant') throw new Error('Pad: only constant mode is supported');
    const rank = x[0].shape.length;
    const pads = constInts(b, x[1], 'Pad');
    const shape = x[0].shape.map((d, i) => {
      const extra = pads[i] + pads[rank + i];
      if (extra === 0) return d;
      if (typeof d !== 'number') throw new Error(`Pad: axis ${i} of ${x[0].name} must have a static size`);
      return d + extra;
    });
    return [{ dtype: x[0].dtype, shape }];
  },
  grad({ b }, x, _y, [dy]) {
    const rank = x[0].shape.length;
    const pads = constInts(b, x[1], 'Pad');
    let g = dy!;
    for (let i = 0; i < rank; i++) {
      if (pads[i] === 0 && pads[rank + i] === 0) continue;
      g = b.slice(g, i, pads[i], pads[i] + (x[0].shape[i] as number));
    }
    return [g, ...x.slice(1).map(() => null)];
  },
};

export const concat: OpDef = {
  infer(x, attrs) {
    if (x.length < 1) throw new Error('Concat needs at least one input');
    const axis = normAxis(Number(attrs.axis), x[0].shape.length, 'Concat');
    let total = 0;
    for (const v of x) {
      const d = v.shape[axis];
      if (typeof d !== 'number') throw new Error(`Concat: axis ${axis} of ${v.name} must have a static size`);
      total += d;
    }
    const shape = [...x[0].shape];
    shape[axis] = total;
    return [{ dtype: x[0].dtype, shape }];
  },
  grad({ b, needs }, x, _y, [dy], attrs) {
    const axis = normAxis(Number(attrs.axis), x[0].shape.length, 'Concat');
    let offset = 0;
    return x.map((v, i) => {
      const n = v.shape[axis] as number;
      const g = needs[i] ? b.slice(dy!, axis, offset, offset + n) : null;
      offset += n;
      return g;
    });
  },
};

export const shape: OpDef = {
  infer(x) {
    expectInputs('Shape', x, 1);
    return [{ dtype: 'int64', shape: [x[0].shape.length] }];
  },
};

export const cast: OpDef = {
  infer(x, attrs) {
    expectInputs('Cast', x, 1);
    return [{ dtype: dtypeFromOnnx(Number(attrs.to)), shape: x[0].shape }];
  },
  grad: ({ b }, x, _y, [dy]) => [isFloat(x[0].dtype) ? b.cast(dy!, x[0].dtype) : null],
};

export const trilu: OpDef = {
  infer(x) {
    expectInputs('Trilu', x, 1, 2);
    return [{ dtype: x[0].dtype, shape: x[0].shape }];
  },
};

// Gathers by integer index. Embedding tables are frozen, so Gather has no data gradient;
// rows gathered along an axis scatter theirs back with ScatterND, which onnxruntime-web's
// WebGPU provider runs on the GPU (it has no ScatterElements kernel, so a ScatterElements node
// would send its tensors to the CPU and back inside every run).
import type { GraphBuilder, Value } from '../builder';
import { expectInputs, normAxis, type OpDef } from './types';

function intIndices(op: string, dtype: string): void {
  if (dtype !== 'int64' && dtype !== 'int32') throw new Error(`${op}: indices must be int64 or int32, got ${dtype}`);
}

export const gather: OpDef = {
  infer(x, attrs) {
    expectInputs('Gather', x, 2);
    intIndices('Gather', x[1].dtype);
    const axis = normAxis(Number(attrs.axis ?? 0), x[0].shape.length, 'Gather');
    return [{ dtype: x[0].dtype, shape: [...x[0].shape.slice(0, axis), ...x[1].shape, ...x[0].shape.slice(axis + 1)] }];
  },
  // Rows gathered along one axis by a 1-D index (the kept tokens) scatter their gradient back,
  // adding where an index repeats. Tables gathered by a batch of ids (embeddings) are frozen.
  grad({ b, shapeOf, needs }, x, _y, [dy], attrs) {
    if (!needs[0]) return [null, null];
    if (x[1].shape.length !== 1) throw new Error('Gather: a data gradient needs 1-D indices');
    const axis = normAxis(Number(attrs.axis ?? 0), x[0].shape.length, 'Gather');
    const { perm } = rowsFirst(x[0].shape.length, axis);
    // Zeros already in the rows-first layout, so only the result is transposed back.
    let shape = shapeOf(x[0]);
    if (perm) {
      shape = b.op1('Gather', [shape, b.ints(perm)], { axis: 0 });
      b.shapeSources.set(shape.name, perm.map((p) => x[0].shape[p]));
    }
    const zeros = b.op1('Expand', [b.scalar(0, dy!.dtype), shape]);
    return [scatterAddRows(b, zeros, x[1], dy!, axis, true), null];
  },
};

/** The permutation that moves `axis` first, and its inverse (null when it is first already). */
function rowsFirst(rank: number, axis: number): { perm: number[] | null; inverse: number[] | null } {
  if (axis === 0) return { perm: null, inverse: null };
  const perm = [axis, ...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis)];
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return { perm, inverse };
}

/**
 * data with updates added at the rows `rows` (1-D) along `axis`: data[…, rows[k], …] += updates[…, k, …]
 * (repeated rows add). ScatterND indexes leading axes, so for axis > 0 the row axis is moved
 * first and back; with `dataRowsFirst` the data is already in that layout.
 */
export function scatterAddRows(b: GraphBuilder, data: Value, rows: Value, updates: Value, axis: number, dataRowsFirst = false): Value {
  const { perm, inverse } = rowsFirst(updates.shape.length, axis);
  const idx = b.unsqueeze(rows, [1]); // (K, 1)
  if (!perm) return b.op1('ScatterND', [data, idx, updates], { reduction: 'add' });
  const out = b.op1('ScatterND', [dataRowsFirst ? data : b.transpose(data, perm), idx, b.transpose(updates, perm)], { reduction: 'add' });
  return b.transpose(out, inverse!);
}

function ndIndexDepth(op: string, data: Value, indices: Value): number {
  intIndices(op, indices.dtype);
  const k = indices.shape[indices.shape.length - 1];
  if (typeof k !== 'number' || k < 1 || k > data.shape.length) throw new Error(`${op}: the indices' last dimension must be a known number from 1 to ${data.shape.length}`);
  return k;
}

// GatherND (batch_dims 0): the slices of data at the index tuples in indices' last axis.
export const gatherND: OpDef = {
  infer(x, attrs) {
    expectInputs('GatherND', x, 2);
    if (Number(attrs.batch_dims ?? 0) !== 0) throw new Error('GatherND: batch_dims must be 0');
    const k = ndIndexDepth('GatherND', x[0], x[1]);
    return [{ dtype: x[0].dtype, shape: [...x[1].shape.slice(0, -1), ...x[0].shape.slice(k)] }];
  },
  grad({ b, shapeOf, needs }, x, _y, [dy]) {
    if (!needs[0]) return [null, null];
    const zeros = b.op1('Expand', [b.scalar(0, dy!.dtype), shapeOf(x[0])]);
    return [b.op1('ScatterND', [zeros, x[1], dy!], { reduction: 'add' }), null];
  },
};

// ScatterND: updates written (or added, with reduction add) at the index tuples' slices.
export const scatterND: OpDef = {
  infer(x, attrs) {
    expectInputs('ScatterND', x, 3);
    ndIndexDepth('ScatterND', x[0], x[1]);
    const reduction = attrs.reduction ?? 'none';
    if (reduction !== 'none' && reduction !== 'add') throw new Error(`ScatterND: reduction ${String(reduction)} is not supported`);
    if (x[2].shape.length !== x[1].shape.length - 1 + x[0].shape.length - (x[1].shape[x[1].shape.length - 1] as number)) {
      throw new Error('ScatterND: updates must have the shape indices[:-1] + data[k:]');
    }
    return [{ dtype: x[0].dtype, shape: x[0].shape }];
  },
  grad({ b, shapeOf, needs }, x, _y, [dy], attrs) {
    const add = attrs.reduction === 'add';
    let dData = null;
    if (needs[0]) {
      // Overwritten slices get no gradient: zero them by writing zeros there.
      dData = add ? dy! : b.op1('ScatterND', [dy!, x[1], b.op1('Expand', [b.scalar(0, dy!.dtype), shapeOf(x[2])])]);
    }
    const dUpdates = needs[2] ? b.op1('GatherND', [dy!, x[1]]) : null;
    return [dData, null, dUpdates];
  },
};

export const gatherElements: OpDef = {
  infer(x, attrs) {
    expectInputs('GatherElements', x, 2);
    intIndices('GatherElements', x[1].dtype);
    normAxis(Number(attrs.axis ?? 0), x[0].shape.length, 'GatherElements');
    if (x[0].shape.length !== x[1].shape.length) throw new Error('GatherElements: data and indices need the same rank');
    return [{ dtype: x[0].dtype, shape: x[1].shape }];
  },
  grad({ b, shapeOf }, x, _y, [dy], attrs) {
    const zeros = b.op1('Expand', [b.scalar(0, dy!.dtype), shapeOf(x[0])]);
    return [b.op1('ScatterElements', [zeros, x[1], dy!], { axis: Number(attrs.axis ?? 0), reduction: 'add' }), null];
  },
};

// With reduction add (the kept rows' attention output added into the residual in place),
// data passes its gradient straight through; without reduction, overwritten rows get none.
export const scatterElements: OpDef = {
  infer(x, attrs) {
    expectInputs('ScatterElements', x, 3);
    intIndices('ScatterElements', x[1].dtype);
    const reduction = attrs.reduction ?? 'none';
    if (reduction !== 'none' && reduction !== 'add') throw new Error(`ScatterElements: reduction ${String(reduction)} is not supported`);
    return [{ dtype: x[0].dtype, shape: x[0].shape }];
  },
  grad({ b, shapeOf, needs }, x, _y, [dy], attrs) {
    const axis = Number(attrs.axis ?? 0);
    const add = attrs.reduction === 'add';
    let dData = null;
    if (needs[0]) {
      dData = add ? dy! : b.op1('ScatterElements', [dy!, x[1], b.op1('Expand', [b.scalar(0, dy!.dtype), shapeOf(x[2])])], { axis });
    }
    const dUpdates = needs[2] ? b.op1('GatherElements', [dy!, x[1]], { axis }) : null;
    return [dData, null, dUpdates];
  },
};

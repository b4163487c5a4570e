// Gathers by integer index. Embedding tables are frozen, so Gather has no data gradient;
// GatherElements (picking each target's log-probability) scatters its gradient back.
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
    const rank = x[0].shape.length;
    const axis = normAxis(Number(attrs.axis ?? 0), rank, 'Gather');
    const view = Array.from({ length: rank }, (_, i) => (i === axis ? -1 : 1));
    const idx = b.op1('Expand', [b.reshape(x[1], view), b.shape(dy!)]);
    const zeros = b.op1('Expand', [b.scalar(0, dy!.dtype), shapeOf(x[0])]);
    return [b.op1('ScatterElements', [zeros, idx, dy!], { axis, reduction: 'add' }), null];
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

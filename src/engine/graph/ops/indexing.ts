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
  grad({ needs }) {
    if (needs[0]) throw new Error('Gather: no gradient for the gathered table (embeddings are frozen)');
    return [null, null];
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

export const scatterElements: OpDef = {
  infer(x) {
    expectInputs('ScatterElements', x, 3);
    intIndices('ScatterElements', x[1].dtype);
    return [{ dtype: x[0].dtype, shape: x[0].shape }];
  },
};

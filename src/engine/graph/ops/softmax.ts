// Softmax and LogSoftmax along one axis.
//   softmax:    dx = y ⊙ (dy − Σ dy⊙y)
//   logsoftmax: dx = dy − exp(y) ⊙ Σ dy
import { isFloat } from '../ir';
import { expectInputs, normAxis, type OpDef } from './types';

function softmaxLike(op: 'Softmax' | 'LogSoftmax'): OpDef {
  return {
    infer(x, attrs) {
      expectInputs(op, x, 1);
      if (!isFloat(x[0].dtype)) throw new Error(`${op}: ${x[0].name} is ${x[0].dtype}; a float type is expected`);
      normAxis(Number(attrs.axis ?? -1), x[0].shape.length, op);
      return [{ dtype: x[0].dtype, shape: x[0].shape }];
    },
    grad({ b }, x, y, [dy], attrs) {
      const axis = normAxis(Number(attrs.axis ?? -1), x[0].shape.length, op);
      if (op === 'Softmax') return [b.mul(y[0], b.sub(dy!, b.reduceSum(b.mul(dy!, y[0]), [axis])))];
      return [b.sub(dy!, b.mul(b.exp(y[0]), b.reduceSum(dy!, [axis])))];
    },
  };
}

export const softmax = softmaxLike('Softmax');
export const logSoftmax = softmaxLike('LogSoftmax');

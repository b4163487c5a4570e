// Elementwise ops: numpy broadcasting for binaries; each gradient is one or two nodes.
import { broadcastShapes, isFloat } from '../ir';
import type { Value } from '../builder';
import { expectInputs, unbroadcast, type GradRule, type OpDef } from './types';

function sameFloat(op: string, x: Value[]): void {
  for (const v of x) {
    if (!isFloat(v.dtype)) throw new Error(`${op}: input ${v.name} is ${v.dtype}; a float type is expected`);
    if (v.dtype !== x[0].dtype) throw new Error(`${op}: inputs mix ${x[0].dtype} and ${v.dtype}`);
  }
}

function binary(op: string, grad: GradRule, floatOnly = true): OpDef {
  return {
    infer(x) {
      expectInputs(op, x, 2);
      if (floatOnly) sameFloat(op, x);
      else if (x[0].dtype !== x[1].dtype) throw new Error(`${op}: inputs mix ${x[0].dtype} and ${x[1].dtype}`);
      return [{ dtype: x[0].dtype, shape: broadcastShapes(x[0].shape, x[1].shape, op) }];
    },
    grad,
  };
}

function unary(op: string, grad?: GradRule): OpDef {
  return {
    infer(x) {
      expectInputs(op, x, 1);
      sameFloat(op, x);
      return [{ dtype: x[0].dtype, shape: x[0].shape }];
    },
    grad,
  };
}

const [A, B] = [0, 1];

export const add = binary('Add', ({ b, needs }, x, _y, [dy]) => [
  needs[A] ? unbroadcast(b, dy!, x[A].shape) : null,
  needs[B] ? unbroadcast(b, dy!, x[B].shape) : null,
]);

export const sub = binary('Sub', ({ b, needs }, x, _y, [dy]) => [
  needs[A] ? unbroadcast(b, dy!, x[A].shape) : null,
  needs[B] ? unbroadcast(b, b.neg(dy!), x[B].shape) : null,
]);

export const mul = binary('Mul', ({ b, needs }, x, _y, [dy]) => [
  needs[A] ? unbroadcast(b, b.mul(dy!, x[B]), x[A].shape) : null,
  needs[B] ? unbroadcast(b, b.mul(dy!, x[A]), x[B].shape) : null,
]);

// d(a/b) = dy/b, -dy*a/b^2 = -dy*y/b
export const div = binary('Div', ({ b, needs }, x, y, [dy]) => [
  needs[A] ? unbroadcast(b, b.div(dy!, x[B]), x[A].shape) : null,
  needs[B] ? unbroadcast(b, b.neg(b.div(b.mul(dy!, y[0]), x[B])), x[B].shape) : null,
]);

// Pow with a constant exponent: d(a^c) = c * a^(c-1).
export const pow: OpDef = {
  infer(x, _attrs, b) {
    expectInputs('Pow', x, 2);
    sameFloat('Pow', x);
    if (!b.constData(x[B].name) || x[B].shape.length !== 0) {
      throw new Error('Pow: the exponent must be a constant scalar');
    }
    return [{ dtype: x[A].dtype, shape: x[A].shape }];
  },
  grad({ b, needs }, x, _y, [dy]) {
    if (needs[B]) throw new Error('Pow: no gradient for the exponent');
    const c = Number((b.constData(x[B].name) as Float32Array)[0]);
    const d = b.mul(b.op1('Pow', [x[A], b.scalar(c - 1, x[A].dtype)]), b.scalar(c, x[A].dtype));
    return [b.mul(dy!, d), null];
  },
};

export const neg = unary('Neg', ({ b }, _x, _y, [dy]) => [b.neg(dy!)]);
export const identity: OpDef = {
  infer(x) { expectInputs('Identity', x, 1); return [{ dtype: x[0].dtype, shape: x[0].shape }]; },
  grad: (_c, _x, _y, [dy]) => [dy],
};
export const exp = unary('Exp', ({ b }, _x, y, [dy]) => [b.mul(dy!, y[0])]);
export const log = unary('Log', ({ b }, x, _y, [dy]) => [b.div(dy!, x[0])]);
export const sqrt = unary('Sqrt', ({ b }, _x, y, [dy]) => [b.div(b.mul(dy!, b.scalar(0.5, y[0].dtype)), y[0])]);
export const reciprocal = unary('Reciprocal', ({ b }, _x, y, [dy]) => [b.neg(b.mul(dy!, b.mul(y[0], y[0])))]);
export const tanh = unary('Tanh', ({ b }, _x, y, [dy]) => [
  b.mul(dy!, b.sub(b.scalar(1, y[0].dtype), b.mul(y[0], y[0]))),
]);
export const sigmoid = unary('Sigmoid', ({ b }, _x, y, [dy]) => [
  b.mul(dy!, b.mul(y[0], b.sub(b.scalar(1, y[0].dtype), y[0]))),
]);
export const relu = unary('Relu', ({ b }, x, _y, [dy]) => {
  const positive = b.op1('Greater', [x[0], b.scalar(0, x[0].dtype)]);
  return [b.op1('Where', [positive, dy!, b.scalar(0, x[0].dtype)])];
});
/** The identity in the forward, a wall for gradients (serialised as Identity). */
export const stopGradient: OpDef = {
  infer(x) { expectInputs('StopGradient', x, 1); return [{ dtype: x[0].dtype, shape: x[0].shape }]; },
};

export const where: OpDef = {
  infer(x) {
    expectInputs('Where', x, 3);
    if (x[0].dtype !== 'bool') throw new Error(`Where: condition ${x[0].name} must be bool, got ${x[0].dtype}`);
    if (x[1].dtype !== x[2].dtype) throw new Error(`Where: branches mix ${x[1].dtype} and ${x[2].dtype}`);
    const shape = broadcastShapes(broadcastShapes(x[0].shape, x[1].shape, 'Where'), x[2].shape, 'Where');
    return [{ dtype: x[1].dtype, shape }];
  },
  grad({ b, needs }, x, _y, [dy]) {
    const zero = b.scalar(0, dy!.dtype);
    return [
      null,
      needs[1] ? unbroadcast(b, b.op1('Where', [x[0], dy!, zero]), x[1].shape) : null,
      needs[2] ? unbroadcast(b, b.op1('Where', [x[0], zero, dy!]), x[2].shape) : null,
    ];
  },
};

function comparison(op: string): OpDef {
  return {
    infer(x) {
      expectInputs(op, x, 2);
      if (x[0].dtype !== x[1].dtype) throw new Error(`${op}: inputs mix ${x[0].dtype} and ${x[1].dtype}`);
      return [{ dtype: 'bool', shape: broadcastShapes(x[0].shape, x[1].shape, op) }];
    },
  };
}
export const greater = comparison('Greater');
export const less = comparison('Less');
export const equal = comparison('Equal');

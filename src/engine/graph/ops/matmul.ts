// MatMul with numpy batch broadcasting. Gradients: dA = dY·Bᵀ, dB = Aᵀ·dY, summed over
// broadcast batch axes; a 2-D weight against a batched input becomes one flat GEMM.
import { broadcastShapes, isFloat } from '../ir';
import { expectInputs, unbroadcast, type OpDef } from './types';

export const matmul: OpDef = {
  infer(x) {
    expectInputs('MatMul', x, 2);
    const [a, b] = x;
    if (!isFloat(a.dtype) || a.dtype !== b.dtype) throw new Error(`MatMul: inputs are ${a.dtype} and ${b.dtype}; one float type is expected`);
    if (a.shape.length < 2 || b.shape.length < 2) throw new Error('MatMul: both inputs need at least 2 dimensions');
    const k1 = a.shape[a.shape.length - 1];
    const k2 = b.shape[b.shape.length - 2];
    if (k1 !== k2) throw new Error(`MatMul: inner dimensions ${k1} (${a.name}) and ${k2} (${b.name}) differ`);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'MatMul');
    return [{ dtype: a.dtype, shape: [...batch, a.shape[a.shape.length - 2], b.shape[b.shape.length - 1]] }];
  },
  grad({ b, needs }, x, _y, [dy]) {
    const [A, B] = x;
    let dA = null;
    let dB = null;
    if (needs[0]) dA = unbroadcast(b, b.matmul(dy!, b.t(B)), A.shape);
    if (needs[1]) {
      if (B.shape.length === 2 && A.shape.length > 2) {
        // (…, M, K)ᵀ·(…, M, N) summed over the batch = flatten(A)ᵀ · flatten(dY): one GEMM.
        const rank = A.shape.length;
        const a2 = b.op1('Flatten', [A], { axis: rank - 1 });
        const d2 = b.op1('Flatten', [dy!], { axis: rank - 1 });
        dB = b.matmul(b.t(a2), d2);
      } else {
        dB = unbroadcast(b, b.matmul(b.t(A), dy!), B.shape);
      }
    }
    return [dA, dB];
  },
};

/**
 * Gemm on 2-D inputs, here only A·Bᵀ (transB = 1): a row-major weight (N, K) multiplies
 * without a transposed copy of it. Gradients: dA = dY·B, dB = dYᵀ·A.
 */
export const gemm: OpDef = {
  infer(x, attrs) {
    expectInputs('Gemm', x, 2);
    const [a, b] = x;
    if (!isFloat(a.dtype) || a.dtype !== b.dtype) throw new Error(`Gemm: inputs are ${a.dtype} and ${b.dtype}; one float type is expected`);
    if (a.shape.length !== 2 || b.shape.length !== 2) throw new Error('Gemm: both inputs need 2 dimensions');
    if (Number(attrs.transB ?? 0) !== 1 || Number(attrs.transA ?? 0) !== 0) throw new Error('Gemm: only transB = 1 is supported');
    if (a.shape[1] !== b.shape[1]) throw new Error(`Gemm: inner dimensions ${a.shape[1]} (${a.name}) and ${b.shape[1]} (${b.name}) differ`);
    return [{ dtype: a.dtype, shape: [a.shape[0], b.shape[0]] }];
  },
  grad({ b, needs }, [A, B], _y, [dy]) {
    return [needs[0] ? b.matmul(dy!, B) : null, needs[1] ? b.matmul(b.t(dy!), A) : null];
  },
};

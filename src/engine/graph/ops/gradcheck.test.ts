// Every gradient rule against central finite differences in float64, on random inputs, run
// through onnxruntime (WASM). For a random cotangent v, L(x) = Σ v ⊙ f(x); along random
// directions u, ⟨∇L, u⟩ must equal (L(x+εu) − L(x−εu)) / 2ε.
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Value } from '../builder';
import { differentiate, gradName } from '../autodiff';
import type { Shape } from '../ir';
import type { Runtime, Tensor } from '../../runtime/runtime';
import { nodeRuntime, randn, relErr, rng } from '../../../../test/helpers/runtime';
import { registeredOps } from './registry';
import { scatterAddRows } from './indexing';

interface InputSpec {
  shape: number[];
  /** Transform of the random draw (e.g. keep a log's argument positive). */
  map?: (x: number) => number;
  /** Integer input (indices): not differentiated. */
  ints?: number[];
}

interface Case {
  name: string;
  ops: string[];
  inputs: InputSpec[];
  build: (b: GraphBuilder, x: Value[]) => Value;
}

const positive = (x: number) => Math.abs(x) + 0.5;

const CASES: Case[] = [
  { name: 'Add broadcast', ops: ['Add'], inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }], build: (b, [x, y]) => b.add(x, y) },
  { name: 'Sub broadcast', ops: ['Sub'], inputs: [{ shape: [4] }, { shape: [2, 3, 4] }], build: (b, [x, y]) => b.sub(x, y) },
  { name: 'Mul broadcast', ops: ['Mul'], inputs: [{ shape: [2, 1, 4] }, { shape: [3, 4] }], build: (b, [x, y]) => b.mul(x, y) },
  { name: 'Div', ops: ['Div'], inputs: [{ shape: [3, 4] }, { shape: [3, 1], map: positive }], build: (b, [x, y]) => b.div(x, y) },
  { name: 'Pow', ops: ['Pow'], inputs: [{ shape: [3, 4], map: positive }], build: (b, [x]) => b.op1('Pow', [x, b.scalar(3, 'float64')]) },
  { name: 'Neg', ops: ['Neg'], inputs: [{ shape: [5] }], build: (b, [x]) => b.neg(x) },
  { name: 'Identity', ops: ['Identity'], inputs: [{ shape: [2, 2] }], build: (b, [x]) => b.mul(b.op1('Identity', [x]), x) },
  { name: 'Exp', ops: ['Exp'], inputs: [{ shape: [2, 5] }], build: (b, [x]) => b.exp(x) },
  { name: 'Log', ops: ['Log'], inputs: [{ shape: [2, 5], map: positive }], build: (b, [x]) => b.op1('Log', [x]) },
  { name: 'Sqrt', ops: ['Sqrt'], inputs: [{ shape: [2, 5], map: positive }], build: (b, [x]) => b.sqrt(x) },
  { name: 'Reciprocal', ops: ['Reciprocal'], inputs: [{ shape: [2, 5], map: positive }], build: (b, [x]) => b.reciprocal(x) },
  { name: 'Tanh', ops: ['Tanh'], inputs: [{ shape: [2, 5] }], build: (b, [x]) => b.tanh(x) },
  { name: 'Sigmoid', ops: ['Sigmoid'], inputs: [{ shape: [2, 5] }], build: (b, [x]) => b.sigmoid(x) },
  { name: 'Relu', ops: ['Relu', 'Greater', 'Where'], inputs: [{ shape: [3, 5] }], build: (b, [x]) => b.op1('Relu', [x]) },
  {
    name: 'Where both branches', ops: ['Where', 'Less'], inputs: [{ shape: [3, 4] }, { shape: [3, 4] }, { shape: [4] }],
    build: (b, [c, x, y]) => b.op1('Where', [b.op1('Less', [c, b.scalar(0, 'float64')]), x, y]),
  },
  { name: 'MatMul 2-D', ops: ['MatMul'], inputs: [{ shape: [3, 4] }, { shape: [4, 5] }], build: (b, [x, y]) => b.matmul(x, y) },
  { name: 'MatMul batched by weight', ops: ['MatMul', 'Flatten'], inputs: [{ shape: [2, 3, 4] }, { shape: [4, 5] }], build: (b, [x, y]) => b.matmul(x, y) },
  { name: 'Gemm A·Bᵀ', ops: ['Gemm'], inputs: [{ shape: [3, 4] }, { shape: [5, 4] }], build: (b, [x, y]) => b.op1('Gemm', [x, y], { transB: 1 }) },
  { name: 'MatMul batch broadcast', ops: ['MatMul'], inputs: [{ shape: [2, 1, 3, 4] }, { shape: [3, 4, 2] }], build: (b, [x, y]) => b.matmul(x, y) },
  { name: 'Transpose', ops: ['Transpose'], inputs: [{ shape: [2, 3, 4] }], build: (b, [x]) => b.mul(b.transpose(x, [2, 0, 1]), b.transpose(x, [2, 0, 1])) },
  { name: 'Reshape 0 and -1', ops: ['Reshape', 'Shape'], inputs: [{ shape: [2, 3, 4] }], build: (b, [x]) => b.exp(b.reshape(x, [0, -1, 2])) },
  { name: 'Flatten', ops: ['Flatten'], inputs: [{ shape: [2, 3, 4] }], build: (b, [x]) => b.tanh(b.op1('Flatten', [x], { axis: 2 })) },
  { name: 'Unsqueeze', ops: ['Unsqueeze'], inputs: [{ shape: [3, 4] }], build: (b, [x]) => b.tanh(b.unsqueeze(x, [1])) },
  { name: 'Squeeze', ops: ['Squeeze'], inputs: [{ shape: [3, 1, 4] }], build: (b, [x]) => b.tanh(b.squeeze(x, [1])) },
  { name: 'Expand', ops: ['Expand'], inputs: [{ shape: [3, 1, 4] }], build: (b, [x]) => b.tanh(b.expand(x, [2, 3, 5, 4])) },
  { name: 'Slice', ops: ['Slice', 'Pad'], inputs: [{ shape: [3, 7] }], build: (b, [x]) => b.tanh(b.slice(x, 1, 2, 6)) },
  { name: 'Pad', ops: ['Pad', 'Slice'], inputs: [{ shape: [3, 4] }], build: (b, [x]) => b.tanh(b.op1('Pad', [x, b.ints([1, 0, 2, 3])])) },
  { name: 'Concat', ops: ['Concat', 'Slice'], inputs: [{ shape: [2, 3] }, { shape: [2, 5] }], build: (b, [x, y]) => b.tanh(b.concat([x, y, x], 1)) },
  { name: 'ReduceSum keepdims', ops: ['ReduceSum', 'Expand'], inputs: [{ shape: [2, 3, 4] }], build: (b, [x]) => b.tanh(b.reduceSum(x, [0, 2], true)) },
  { name: 'ReduceMax dropped', ops: ['ReduceMax', 'Equal', 'Cast', 'ReduceSum'], inputs: [{ shape: [2, 5, 3] }], build: (b, [x]) => b.tanh(b.op1('ReduceMax', [x, b.ints([1])], { keepdims: 0 })) },
  { name: 'ReduceMax keepdims, tied rows', ops: ['ReduceMax', 'Concat'], inputs: [{ shape: [2, 3] }], build: (b, [x]) => b.tanh(b.op1('ReduceMax', [b.concat([x, x], 0), b.ints([0])], { keepdims: 1 })) },
  { name: 'ReduceSum dropped', ops: ['ReduceSum', 'Unsqueeze'], inputs: [{ shape: [2, 3, 4] }], build: (b, [x]) => b.tanh(b.reduceSum(x, [1], false)) },
  { name: 'ReduceMean', ops: ['ReduceMean'], inputs: [{ shape: [2, 3, 4] }], build: (b, [x]) => b.tanh(b.reduceMean(x, [-1], true)) },
  { name: 'Softmax', ops: ['Softmax'], inputs: [{ shape: [2, 3, 5] }], build: (b, [x]) => b.softmax(x, -1) },
  { name: 'LogSoftmax', ops: ['LogSoftmax'], inputs: [{ shape: [3, 6] }], build: (b, [x]) => b.logSoftmax(x, 1) },
  {
    name: 'GatherElements', ops: ['GatherElements', 'ScatterElements'], inputs: [{ shape: [3, 6] }, { shape: [3, 2], ints: [1, 1, 5, 0, 2, 4] }],
    build: (b, [x, idx]) => b.op1('GatherElements', [x, idx], { axis: 1 }),
  },
  {
    name: 'Gather (indices only)', ops: ['Gather'], inputs: [{ shape: [4, 3] }],
    build: (b, [x]) => b.mul(x, b.op1('Gather', [b.constant('float64', [4, 3], Float64Array.from({ length: 12 }, (_, i) => i / 7)), b.ints([2, 0, 1, 3])], { axis: 0 })),
  },
  {
    name: 'Gather rows by 1-D index (repeats add)', ops: ['Gather', 'ScatterND', 'Transpose'], inputs: [{ shape: [2, 5, 3] }, { shape: [3], ints: [4, 1, 4] }],
    build: (b, [x, idx]) => b.tanh(b.op1('Gather', [x, idx], { axis: 1 })),
  },
  {
    name: 'Gather leading rows (repeats add)', ops: ['Gather', 'ScatterND'], inputs: [{ shape: [5, 2, 3] }, { shape: [4], ints: [0, 3, 3, 1] }],
    build: (b, [x, idx]) => b.tanh(b.op1('Gather', [x, idx], { axis: 0 })),
  },
  {
    name: 'scatterAddRows into a middle axis', ops: ['ScatterND', 'GatherND', 'Transpose'], inputs: [{ shape: [2, 3, 5, 2] }, { shape: [2, 3, 2, 2] }, { shape: [2], ints: [4, 1] }],
    build: (b, [x, u, idx]) => b.tanh(scatterAddRows(b, x, idx, u, 2)),
  },
  {
    name: 'ScatterND overwrite by index pairs', ops: ['ScatterND', 'GatherND'], inputs: [{ shape: [3, 4, 2] }, { shape: [2, 2] }, { shape: [2, 2], ints: [0, 1, 2, 3] }],
    build: (b, [x, u, idx]) => b.tanh(b.op1('ScatterND', [x, idx, u])),
  },
  {
    name: 'GatherND pairs (repeats add)', ops: ['GatherND', 'ScatterND'], inputs: [{ shape: [3, 4, 2] }, { shape: [3, 2], ints: [0, 1, 2, 3, 0, 1] }],
    build: (b, [x, idx]) => b.tanh(b.op1('GatherND', [x, idx])),
  },
  {
    name: 'ScatterElements add into rows', ops: ['ScatterElements', 'GatherElements'], inputs: [{ shape: [1, 5, 3] }, { shape: [1, 2, 3] }, { shape: [1, 2, 3], ints: [0, 0, 0, 3, 3, 3] }],
    build: (b, [x, u, idx]) => b.tanh(b.op1('ScatterElements', [x, idx, u], { axis: 1, reduction: 'add' })),
  },
  {
    name: 'ScatterElements overwrite', ops: ['ScatterElements'], inputs: [{ shape: [4, 3] }, { shape: [2, 3] }, { shape: [2, 3], ints: [1, 1, 1, 2, 2, 2] }],
    build: (b, [x, u, idx]) => b.tanh(b.op1('ScatterElements', [x, idx, u], { axis: 0 })),
  },
  { name: 'Cast round trip', ops: ['Cast'], inputs: [{ shape: [4] }], build: (b, [x]) => b.mul(b.cast(b.cast(x, 'float32'), 'float64'), x) },
];

const DIFFERENTIABLE_OPS = registeredOps().filter((op) => !['Shape', 'Equal', 'Greater', 'Less', 'Trilu', 'StopGradient', 'TopK'].includes(op));

async function lossAt(rt: Runtime, fwd: ReturnType<GraphBuilder['build']>, feeds: Record<string, Tensor>, v: Float64Array): Promise<number> {
  const out = await rt.run(fwd, feeds);
  const y = (await rt.read(out.y)) as Float64Array;
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * v[i];
  return s;
}

describe('gradient rules match finite differences (float64)', () => {
  it('every differentiable op in the registry has a case', () => {
    const covered = new Set(CASES.flatMap((c) => c.ops));
    expect(DIFFERENTIABLE_OPS.filter((op) => !covered.has(op))).toEqual([]);
  });

  for (const [ci, c] of CASES.entries()) {
    it(c.name, async () => {
      const rt = await nodeRuntime();
      const r = rng(1000 + ci);
      const b = new GraphBuilder(`check_${ci}`);
      const xs = c.inputs.map((s, i) => b.input(`x${i}`, s.ints ? 'int64' : 'float64', s.shape as Shape));
      const y = c.build(b, xs);
      b.output(y, 'y');
      const outShape = y.shape as number[];
      const wrt = xs.filter((_, i) => !c.inputs[i].ints).map((x) => x.name);
      const d = differentiate(b, { wrt, seeds: ['y'] });

      const data = c.inputs.map((s) => (s.ints ? BigInt64Array.from(s.ints.map(BigInt)) : randn(r, s.shape.reduce((p, q) => p * q, 1)).map(s.map ?? ((v) => v))));
      const tensors = (vals: (Float64Array | BigInt64Array)[]) =>
        Object.fromEntries(vals.map((v, i) => [`x${i}`, rt.tensor(c.inputs[i].ints ? 'int64' : 'float64', v, c.inputs[i].shape)]));
      const v = randn(r, outShape.reduce((p, q) => p * q, 1));
      const seed = rt.tensor('float64', v, outShape);

      const fused = await rt.run(d.fused, { ...tensors(data), [gradName('y')]: seed });
      // The split pair (forward with saved values, then backward) must agree with the fused graph.
      const fwd = await rt.run(d.forward, tensors(data));
      const bwdFeeds: Record<string, Tensor> = { [gradName('y')]: seed };
      for (const s of d.saved) bwdFeeds[s] = fwd[s] ?? tensors(data)[s];
      const bwd = await rt.run(d.backward, bwdFeeds);

      // Through float32 the perturbation must be large enough to survive rounding (f is quadratic there).
      const eps = c.name.startsWith('Cast') ? 1e-2 : 1e-6;
      for (const name of wrt) {
        const i = Number(name.slice(1));
        const g = (await rt.read(fused[gradName(name)])) as Float64Array;
        const g2 = (await rt.read(bwd[gradName(name)])) as Float64Array;
        expect(relErr(g2, g)).toBeLessThan(1e-12);
        for (let k = 0; k < 3; k++) {
          const u = randn(r, g.length);
          const plus = data.map((a, j) => (j === i ? (a as Float64Array).map((x, e) => x + eps * u[e]) : a));
          const minus = data.map((a, j) => (j === i ? (a as Float64Array).map((x, e) => x - eps * u[e]) : a));
          const fd = ((await lossAt(rt, d.forward, tensors(plus), v)) - (await lossAt(rt, d.forward, tensors(minus), v))) / (2 * eps);
          let an = 0;
          for (let e = 0; e < g.length; e++) an += g[e] * u[e];
          const tol = c.name.startsWith('Cast') ? 1e-4 : 1e-7;
          expect(Math.abs(an - fd) / Math.max(Math.abs(fd), 1e-3), `${c.name}: d/d${name} along u${k}: ${an} vs ${fd}`).toBeLessThan(tol);
        }
      }
    });
  }

  it('StopGradient: f = x·sg(x) differentiates to sg(x), not 2x', async () => {
    const rt = await nodeRuntime();
    const b = new GraphBuilder('stop_gradient');
    const x = b.input('x', 'float64', [4]);
    b.output(b.mul(x, b.op1('StopGradient', [x])), 'y');
    const d = differentiate(b, { wrt: ['x'], seeds: ['y'] });
    const xs = Float64Array.of(1, -2, 3, 0.5);
    const out = await rt.run(d.fused, { x: rt.tensor('float64', xs, [4]), grad_y: rt.tensor('float64', Float64Array.of(1, 1, 1, 1), [4]) });
    expect(Array.from((await rt.read(out.grad_x)) as Float64Array)).toEqual(Array.from(xs));
    expect(Array.from((await rt.read(out.y)) as Float64Array)).toEqual(Array.from(xs, (v) => v * v));
  });
});

// One row per op: how it checks and shapes its inputs, and its gradient rule.
import type { OpDef } from './types';
import * as ew from './elementwise';
import { gemm, matmul } from './matmul';
import { reduceMax, reduceMean, reduceSum, topK } from './reduce';
import { logSoftmax, softmax } from './softmax';
import * as sh from './shape-ops';
import { gather, gatherElements, gatherND, scatterElements, scatterND } from './indexing';

const OPS = new Map<string, OpDef>([
  ['Add', ew.add],
  ['Cast', sh.cast],
  ['Concat', sh.concat],
  ['Div', ew.div],
  ['Equal', ew.equal],
  ['Exp', ew.exp],
  ['Expand', sh.expand],
  ['Flatten', sh.flatten],
  ['Gather', gather],
  ['GatherElements', gatherElements],
  ['GatherND', gatherND],
  ['Gemm', gemm],
  ['Greater', ew.greater],
  ['Identity', ew.identity],
  ['Less', ew.less],
  ['Log', ew.log],
  ['LogSoftmax', logSoftmax],
  ['MatMul', matmul],
  ['Mul', ew.mul],
  ['Neg', ew.neg],
  ['Pad', sh.pad],
  ['Pow', ew.pow],
  ['Reciprocal', ew.reciprocal],
  ['ReduceMax', reduceMax],
  ['ReduceMean', reduceMean],
  ['ReduceSum', reduceSum],
  ['Relu', ew.relu],
  ['Reshape', sh.reshape],
  ['ScatterElements', scatterElements],
  ['ScatterND', scatterND],
  ['Shape', sh.shape],
  ['Sigmoid', ew.sigmoid],
  ['Slice', sh.slice],
  ['Softmax', softmax],
  ['Sqrt', ew.sqrt],
  ['Squeeze', sh.squeeze],
  ['StopGradient', ew.stopGradient],
  ['Sub', ew.sub],
  ['Tanh', ew.tanh],
  ['TopK', topK],
  ['Transpose', sh.transpose],
  ['Trilu', sh.trilu],
  ['Unsqueeze', sh.unsqueeze],
  ['Where', ew.where],
]);

export function opDef(op: string): OpDef {
  const def = OPS.get(op);
  if (!def) throw new Error(`op ${op} is not in the registry`);
  return def;
}

export function registeredOps(): string[] {
  return [...OPS.keys()];
}

import { int64s, ONNX_DTYPE, type AttrValue, type Constant, type ConstData, type DType, type Graph, type Node, type Shape, type ValueInfo } from './ir';
import { opDef } from './ops/registry';

/** A value inside a graph being built: its name, type and (possibly symbolic) shape. */
export type Value = ValueInfo;

function constArray(dtype: DType, values: ArrayLike<number>): ConstData {
  switch (dtype) {
    case 'float32': return Float32Array.from(values);
    case 'float64': return Float64Array.from(values);
    case 'int64': return int64s(values.length, (i) => values[i]);
    case 'int32': return Int32Array.from(values);
    case 'bool': return Uint8Array.from(values);
    default: throw new Error(`constants of ${dtype} are not supported`);
  }
}

/**
 * Appends typed nodes to a graph. Every op goes through the registry, which checks its inputs
 * and infers the output shapes, so a malformed graph fails here with the op's name, not later
 * inside onnxruntime.
 */
export class GraphBuilder {
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly nodes: Node[] = [];
  readonly constants: Constant[] = [];
  readonly values = new Map<string, ValueInfo>();
  /** For each output of a Shape node, the (static or symbolic) shape it will hold. */
  readonly shapeSources = new Map<string, Shape>();
  private counter = 0;
  /** Prefix for generated names, so a backward pass never collides with its forward. */
  prefix = '';

  constructor(readonly name: string) {}

  fresh(hint: string): string {
    let name: string;
    do name = `${this.prefix}${hint}_${this.counter++}`;
    while (this.values.has(name));
    return name;
  }

  private declare(v: ValueInfo): ValueInfo {
    if (this.values.has(v.name)) throw new Error(`graph ${this.name}: value ${v.name} defined twice`);
    this.values.set(v.name, v);
    return v;
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    const v = this.declare({ name, dtype, shape: [...shape] });
    this.inputs.push(v);
    return v;
  }

  constant(dtype: DType, shape: Shape, values: ArrayLike<number> | ConstData, hint = 'const'): Value {
    const data = ArrayBuffer.isView(values) ? (values as ConstData) : constArray(dtype, values);
    const v = this.declare({ name: this.fresh(hint), dtype, shape: [...shape] });
    this.constants.push({ info: v, data });
    return v;
  }

  scalar(value: number, dtype: DType): Value {
    return this.constant(dtype, [], [value], 'scalar');
  }

  ints(values: number[]): Value {
    return this.constant('int64', [values.length], values, 'ints');
  }

  /** Appends one node; returns its outputs. */
  op(op: string, inputs: Value[], attrs: Record<string, AttrValue> = {}, hint?: string): Value[] {
    const def = opDef(op);
    const outs = def.infer(inputs, attrs, this);
    const names = outs.map(() => this.fresh(hint ?? op.toLowerCase()));
    const values = outs.map((o, i) => this.declare({ name: names[i], dtype: o.dtype, shape: o.shape }));
    this.nodes.push({ op, inputs: inputs.map((v) => v.name), outputs: names, attrs });
    if (op === 'Shape') this.shapeSources.set(names[0], inputs[0].shape);
    return values;
  }

  op1(op: string, inputs: Value[], attrs: Record<string, AttrValue> = {}, hint?: string): Value {
    return this.op(op, inputs, attrs, hint)[0];
  }

  /** Marks a value as a graph output, renaming it through Identity when a name is asked for. */
  output(v: Value, name?: string): Value {
    let out = v;
    if (name && name !== v.name) {
      out = this.declare({ name, dtype: v.dtype, shape: v.shape });
      this.nodes.push({ op: 'Identity', inputs: [v.name], outputs: [name], attrs: {} });
    }
    this.outputs.push(out);
    return out;
  }

  constData(name: string): ConstData | undefined {
    return this.constants.find((c) => c.info.name === name)?.data;
  }

  build(): Graph {
    return {
      name: this.name,
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      nodes: [...this.nodes],
      constants: [...this.constants],
      values: new Map(this.values),
    };
  }

  // Shorthands for the ops models use most; each is one registry row.
  add(a: Value, b: Value): Value { return this.op1('Add', [a, b]); }
  sub(a: Value, b: Value): Value { return this.op1('Sub', [a, b]); }
  mul(a: Value, b: Value): Value { return this.op1('Mul', [a, b]); }
  div(a: Value, b: Value): Value { return this.op1('Div', [a, b]); }
  neg(a: Value): Value { return this.op1('Neg', [a]); }
  exp(a: Value): Value { return this.op1('Exp', [a]); }
  sqrt(a: Value): Value { return this.op1('Sqrt', [a]); }
  reciprocal(a: Value): Value { return this.op1('Reciprocal', [a]); }
  tanh(a: Value): Value { return this.op1('Tanh', [a]); }
  sigmoid(a: Value): Value { return this.op1('Sigmoid', [a]); }
  matmul(a: Value, b: Value): Value { return this.op1('MatMul', [a, b]); }
  transpose(a: Value, perm: number[]): Value { return this.op1('Transpose', [a], { perm }); }
  /** Transposes the last two axes. */
  t(a: Value): Value {
    const perm = a.shape.map((_, i) => i);
    [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
    return this.transpose(a, perm);
  }
  /** Reshape with ONNX semantics: 0 copies the input's dimension, -1 is inferred. */
  reshape(a: Value, dims: number[]): Value { return this.op1('Reshape', [a, this.ints(dims)]); }
  unsqueeze(a: Value, axes: number[]): Value { return this.op1('Unsqueeze', [a, this.ints(axes)]); }
  squeeze(a: Value, axes: number[]): Value { return this.op1('Squeeze', [a, this.ints(axes)]); }
  expand(a: Value, dims: number[]): Value { return this.op1('Expand', [a, this.ints(dims)]); }
  reduceSum(a: Value, axes: number[], keepdims = true): Value {
    return this.op1('ReduceSum', [a, this.ints(axes)], { keepdims: keepdims ? 1 : 0 });
  }
  reduceMean(a: Value, axes: number[], keepdims = true): Value {
    return this.op1('ReduceMean', [a, this.ints(axes)], { keepdims: keepdims ? 1 : 0 });
  }
  slice(a: Value, axis: number, start: number, end: number): Value {
    return this.op1('Slice', [a, this.ints([start]), this.ints([end]), this.ints([axis])]);
  }
  concat(values: Value[], axis: number): Value { return this.op1('Concat', values, { axis }); }
  softmax(a: Value, axis = -1): Value { return this.op1('Softmax', [a], { axis }); }
  logSoftmax(a: Value, axis = -1): Value { return this.op1('LogSoftmax', [a], { axis }); }
  cast(a: Value, to: DType): Value { return this.op1('Cast', [a], { to: ONNX_DTYPE[to] }); }
  shape(a: Value): Value { return this.op1('Shape', [a]); }
}

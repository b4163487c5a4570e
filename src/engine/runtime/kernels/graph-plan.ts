// The engine's own execution of a graph on WebGPU: a graph and the dims of one run become a
// list of WGSL kernels with every shape baked in. onnxruntime's WebGPU provider runs about 210
// kernels for one dense layer's forward and backward, each costing the host 46–126 µs to launch
// (bench/RESULTS.md); most are element-wise (the norms, RoPE, SwiGLU and their gradients) and
// transposes. Here:
//   - shape ops (Reshape, Transpose, Expand, Unsqueeze, Squeeze, Flatten, Slice, Identity) are
//     views: an offset and strides over a buffer, no kernel;
//   - element-wise ops are expressions, inlined into their one consumer when it is element-wise
//     over the same shape or a reduction, so a chain of them is one kernel;
//   - a matrix product reads its operands through their views (a transposed operand costs nothing);
//   - int64 values (shapes, index lists) live on the host.
// What this planner does not know (another op, another type, a dim it cannot resolve) makes it
// return null, and the graph runs in onnxruntime as before.
import type { Graph, Node } from '../../graph/ir';
import { bindDims, resolvedDims } from '../../memory/plan';

/** A strided window on a buffer (element units). */
export interface View {
  buf: string;
  offset: number;
  shape: number[];
  strides: number[];
}

type Expr =
  | { k: 'lit'; v: number; bool?: boolean }
  | { k: 'read'; view: View }
  /** data's view read with index buffer `idx` along `axis` (its dim there replaced by the index count). */
  | { k: 'gather'; view: View; axis: number; idx: string; shape: number[] }
  | { k: 'op'; op: string; args: Expr[]; shape: number[]; bool: boolean; c?: number };

type State =
  | { k: 'view'; view: View }
  | { k: 'expr'; e: Expr; shape: number[] }
  /** int64 data known when planning (shapes, constants). */
  | { k: 'host'; data: number[]; shape: number[] }
  /** int64 data of an input, known at each run (the kept rows), under this shape. */
  | { k: 'index'; root: string; shape: number[] }
  /** int64 indices computed on the GPU (TopK's), in the i32 buffer `buf`, under this shape. */
  | { k: 'gpuIndex'; buf: string; shape: number[] }
  /** int64 data computed from an input's on the host that no kernel reads (a shape handed to Expand or Reshape, whose dims are known anyway). */
  | { k: 'opaque' };

export interface Step {
  /** Cache key of the pipeline (its code). */
  code: string;
  /** Buffer keys by binding: in:NAME, out:NAME, tmp:N, idx:NAME, const:NAME. */
  bindings: string[];
  groups: [number, number, number];
  /** Kernel family, for the dispatch counts (ew, reduce, matmul, scatter, copy). */
  kind: string;
}

export interface GraphPlan {
  steps: Step[];
  /** Bytes of each scratch slot (tmp:N). */
  slots: number[];
  /** float inputs read, by name. */
  inputs: string[];
  /** Index inputs uploaded as i32 (`idx:NAME`) and whether a scatter-add needs them distinct. */
  indices: Map<string, { distinct: boolean }>;
  /** Float outputs (written into out:NAME) with their dims; int64 outputs computed on the host. */
  outputs: { name: string; dims: number[] }[];
  hostOutputs: { name: string; dims: number[]; data: number[] | { root: string } }[];
  /** Float constants with more than one element, uploaded once (const:NAME). */
  constants: Map<string, Float32Array>;
}

const EW = new Set(['Add', 'Sub', 'Mul', 'Div', 'Neg', 'Sqrt', 'Reciprocal', 'Sigmoid', 'Exp', 'Log', 'Tanh', 'Relu', 'Pow', 'Where', 'Greater', 'Less', 'Equal', 'Cast', 'Identity', 'StopGradient']);
const VIEW_OPS = new Set(['Reshape', 'Flatten', 'Unsqueeze', 'Squeeze', 'Transpose', 'Expand', 'Slice']);
const REDUCE = new Set(['ReduceSum', 'ReduceMean', 'ReduceMax']);
/** Shape ops an index list passes through unchanged (its order is the data's). */
const INDEX_PASS = new Set(['Unsqueeze', 'Squeeze', 'Reshape', 'Flatten', 'Identity']);
/** Distinct buffers one kernel may bind (WebGPU's default maxStorageBuffersPerShaderStage is 8). */
const MAX_BINDINGS = 8;
/** Ops in one fused expression, beyond which it is written out (long shaders compile slowly). */
const MAX_EXPR_OPS = 48;
const WG = 256;

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const rowMajor = (s: number[]) => {
  const st = new Array<number>(s.length);
  let n = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    st[i] = n;
    n *= s[i];
  }
  return st;
};
const contiguous = (v: View) => {
  const rm = rowMajor(v.shape);
  return v.shape.every((d, i) => d === 1 || v.strides[i] === rm[i]);
};
const sameDims = (a: number[], b: number[]) => {
  const x = a.filter((d) => d !== 1);
  const y = b.filter((d) => d !== 1);
  return numel(a) === numel(b) && x.length === y.length && x.every((d, i) => d === y[i]) && a.length <= b.length;
};

class Unsupported extends Error {}
const need = (ok: unknown, why: string): void => {
  if (!ok) throw new Unsupported(why);
};

/** A WGSL f32 literal with the exact bits of v. */
function lit(v: number): string {
  const b = new Float32Array([v]);
  return `bitcast<f32>(${new Uint32Array(b.buffer)[0]}u)`;
}

/**
 * Plans `graph` for the dims its inputs have in `feeds`: null when some part of it is not
 * handled here (the reason goes to `why`).
 */
export function planGraph(graph: Graph, feeds: Record<string, { dims: readonly number[]; type: string }>, why?: (s: string) => void): GraphPlan | null {
  try {
    return new Planner(graph, feeds).plan();
  } catch (e) {
    if (e instanceof Unsupported) {
      why?.(`${graph.name}: ${e.message}`);
      return null;
    }
    throw e;
  }
}

class Planner {
  private env: Map<string, number>;
  private states = new Map<string, State>();
  private steps: Step[] = [];
  private slots: number[] = [];
  private freeSlots: number[] = [];
  private slotRefs = new Map<number, number>();
  private users = new Map<string, Node[]>();
  private lastUse = new Map<string, number>();
  private outputNames: Set<string>;
  private indices = new Map<string, { distinct: boolean }>();
  private constants = new Map<string, Float32Array>();
  private inputs: string[] = [];

  constructor(private g: Graph, feeds: Record<string, { dims: readonly number[]; type: string }>) {
    this.env = bindDims(g, feeds);
    this.outputNames = new Set(g.outputs.map((o) => o.name));
    g.nodes.forEach((n, i) => n.inputs.forEach((x) => {
      if (!x) return;
      const u = this.users.get(x) ?? [];
      if (!u.includes(n)) u.push(n);
      this.users.set(x, u);
      this.lastUse.set(x, i);
    }));
  }

  private dims(name: string): number[] {
    const d = resolvedDims(this.g, name, this.env);
    need(d, `the dims of ${name} are not known from the inputs`);
    return d!;
  }

  plan(): GraphPlan {
    const g = this.g;
    for (const i of g.inputs) {
      const dims = this.dims(i.name);
      if (i.dtype === 'float32') {
        this.states.set(i.name, { k: 'view', view: { buf: `in:${i.name}`, offset: 0, shape: dims, strides: rowMajor(dims) } });
        this.inputs.push(i.name);
      } else if (i.dtype === 'int64' || i.dtype === 'int32') this.states.set(i.name, { k: 'index', root: i.name, shape: dims });
      else need(false, `input ${i.name} is ${i.dtype}`);
    }
    for (const c of g.constants) {
      const dims = this.dims(c.info.name);
      if (c.info.dtype === 'int64' || c.info.dtype === 'int32') this.states.set(c.info.name, { k: 'host', data: Array.from(c.data as ArrayLike<number | bigint>, Number), shape: dims });
      else if (c.info.dtype === 'float32' && numel(dims) === 1) this.states.set(c.info.name, { k: 'expr', e: { k: 'lit', v: (c.data as Float32Array)[0] }, shape: dims });
      else if (c.info.dtype === 'float32') {
        this.constants.set(c.info.name, c.data as Float32Array);
        this.states.set(c.info.name, { k: 'view', view: { buf: `const:${c.info.name}`, offset: 0, shape: dims, strides: rowMajor(dims) } });
      } else need(false, `constant ${c.info.name} is ${c.info.dtype}`);
    }
    g.nodes.forEach((n, i) => {
      this.node(n);
      for (const x of new Set(n.inputs)) if (x && this.lastUse.get(x) === i && !this.outputNames.has(x)) this.drop(x);
    });
    const outputs: GraphPlan['outputs'] = [];
    const hostOutputs: GraphPlan['hostOutputs'] = [];
    for (const o of g.outputs) {
      const s = this.states.get(o.name);
      need(s, `output ${o.name} was not computed`);
      const dims = this.dims(o.name);
      if (s!.k === 'host') hostOutputs.push({ name: o.name, dims, data: s!.data });
      else if (s!.k === 'index') hostOutputs.push({ name: o.name, dims, data: { root: s!.root } });
      else if (s!.k === 'opaque' || s!.k === 'gpuIndex') need(false, `output ${o.name} is int64 data the host does not have`);
      else {
        need(o.dtype === 'float32', `output ${o.name} is ${o.dtype}`);
        outputs.push({ name: o.name, dims });
        const target: View = { buf: `out:${o.name}`, offset: 0, shape: dims, strides: rowMajor(dims) };
        const v = s!.k === 'view' ? s!.view : null;
        if (!v || v.buf !== target.buf || v.offset !== 0 || !contiguous(v)) this.write(s!.k === 'view' ? { k: 'read', view: s!.view } : (s as { e: Expr }).e, dims, target);
      }
    }
    return { steps: this.steps, slots: this.slots, inputs: this.inputs, indices: this.indices, outputs, hostOutputs, constants: this.constants };
  }

  // --- scratch slots: a value's buffer is reused once every view of it has had its last reader.

  private slotOf(bytes: number): number {
    const i = this.freeSlots.findIndex((s) => this.slots[s] === bytes);
    const id = i >= 0 ? this.freeSlots.splice(i, 1)[0] : this.slots.push(bytes) - 1;
    this.slotRefs.set(id, 0);
    return id;
  }

  private refSlot(buf: string, d: number): void {
    if (!buf.startsWith('tmp:')) return;
    const id = Number(buf.slice(4));
    const n = (this.slotRefs.get(id) ?? 0) + d;
    this.slotRefs.set(id, n);
    if (n === 0) this.freeSlots.push(id);
  }

  private set(name: string, s: State): void {
    for (const b of this.bufsOfState(s)) this.refSlot(b, 1);
    this.states.set(name, s);
  }

  private drop(name: string): void {
    const s = this.states.get(name);
    if (s) for (const b of this.bufsOfState(s)) this.refSlot(b, -1);
  }

  private bufsOfState(s: State): string[] {
    if (s.k === 'view') return [s.view.buf];
    if (s.k === 'gpuIndex') return [s.buf];
    if (s.k === 'expr') return [...bufsOf(s.e)].filter((b) => b.startsWith('tmp:'));
    return [];
  }

  /** A fresh buffer for a value of `dims`: the graph's output buffer when it is one, else a slot. */
  private target(name: string, dims: number[]): View {
    // A value whose one reader is an Identity naming a graph output is written there directly.
    const u = this.users.get(name);
    const alias = u?.length === 1 && u[0].op === 'Identity' && this.outputNames.has(u[0].outputs[0]) ? u[0].outputs[0] : null;
    const buf = this.outputNames.has(name) ? `out:${name}` : alias ? `out:${alias}` : `tmp:${this.slotOf(Math.max(4, numel(dims) * 4))}`;
    return { buf, offset: 0, shape: dims, strides: rowMajor(dims) };
  }

  private state(name: string): State {
    const s = this.states.get(name);
    need(s, `value ${name} is not available`);
    return s!;
  }

  private viewOf(name: string): View {
    const s = this.state(name);
    if (s.k === 'view') return s.view;
    need(s.k === 'expr', `${name} is not a float tensor`);
    const dims = this.dims(name);
    const t = this.target(name, dims);
    this.write((s as { e: Expr }).e, dims, t);
    const st: State = { k: 'view', view: t };
    this.drop(name);
    this.set(name, st);
    return t;
  }

  private exprOf(name: string): Expr {
    const s = this.state(name);
    if (s.k === 'expr') return s.e;
    need(s.k === 'view', `${name} is not a float tensor`);
    return { k: 'read', view: (s as { view: View }).view };
  }

  private hostInts(name: string): number[] {
    const s = this.state(name);
    need(s.k === 'host', `${name} must be known when planning`);
    return (s as { data: number[] }).data;
  }

  /** Whether the value may stay an expression: one consumer, element-wise over the same dims or a reduction of it. */
  private inlinable(name: string, dims: number[]): boolean {
    if (this.outputNames.has(name)) return false;
    const u = this.users.get(name) ?? [];
    if (u.length !== 1) return false;
    const c = u[0];
    if (REDUCE.has(c.op)) return c.inputs[0] === name && c.op !== 'ReduceMax';
    if (c.op === 'ScatterND') return c.inputs[0] === name && c.inputs[2] !== name && sameDims(dims, this.dims(c.outputs[0]));
    if (!EW.has(c.op)) return false;
    return sameDims(dims, this.dims(c.outputs[0]));
  }

  private node(n: Node): void {
    const out = n.outputs[0];
    const outDtype = this.g.values.get(out)?.dtype;
    const ins = n.inputs;
    const s0 = ins[0] ? this.states.get(ins[0]) : undefined;
    if (s0 && (s0.k === 'host' || s0.k === 'index' || s0.k === 'opaque') && n.op !== 'Shape' && n.op !== 'TopK') return this.intNode(n, s0);
    if (n.op === 'TopK') return this.topk(n);
    if (s0 && s0.k === 'gpuIndex') {
      need(INDEX_PASS.has(n.op), `${n.op} on indices computed on the GPU`);
      return this.set(out, { k: 'gpuIndex', buf: s0.buf, shape: this.dims(out) });
    }
    if (n.op === 'Shape') {
      const d = this.dims(ins[0]);
      const start = Number(n.attrs.start ?? 0);
      const end = n.attrs.end === undefined ? d.length : Number(n.attrs.end);
      return this.set(out, { k: 'host', data: d.slice(start < 0 ? start + d.length : start, end < 0 ? end + d.length : end), shape: this.dims(out) });
    }
    need(outDtype === 'float32' || outDtype === 'bool', `${n.op} makes ${outDtype}`);
    const dims = this.dims(out);
    if (EW.has(n.op)) return this.elementwise(n, dims);
    if (VIEW_OPS.has(n.op)) {
      // A literal expanded stays a literal (the zeros a gradient starts from): it has no index.
      const s = this.state(ins[0]);
      if (n.op === 'Expand' && s.k === 'expr' && s.e.k === 'lit') return this.finish(out, s.e, dims);
      return this.set(out, { k: 'view', view: this.viewNode(n, dims) });
    }
    if (n.op === 'MatMul') return this.matmul(n, dims);
    if (REDUCE.has(n.op)) return this.reduce(n, dims);
    if (n.op === 'Gather' || n.op === 'GatherND') return this.gather(n, dims);
    if (n.op === 'ScatterND') return this.scatter(n, dims);
    need(false, `op ${n.op}`);
  }

  private intNode(n: Node, s0: State): void {
    const out = n.outputs[0];
    const dims = this.dims(out);
    if (s0.k === 'index') {
      // Index lists pass through shape ops unchanged (their order is the data's); anything else
      // made of an int64 input is a shape, whose data no kernel reads.
      if (INDEX_PASS.has(n.op)) return this.set(out, { k: 'index', root: s0.root, shape: dims });
      return this.set(out, { k: 'opaque' });
    }
    if (s0.k === 'opaque') return this.set(out, { k: 'opaque' });
    const data = (s0 as { data: number[] }).data;
    switch (n.op) {
      case 'Unsqueeze': case 'Squeeze': case 'Reshape': case 'Flatten': case 'Identity':
        return this.set(out, { k: 'host', data, shape: dims });
      case 'Gather': {
        if (this.state(n.inputs[1]).k !== 'host') return this.set(out, { k: 'opaque' });
        need(Number(n.attrs.axis ?? 0) === 0 && (s0 as { shape: number[] }).shape.length === 1, 'Gather of a shape');
        const idx = this.hostInts(n.inputs[1]);
        return this.set(out, { k: 'host', data: idx.map((i) => data[i < 0 ? i + data.length : i]), shape: dims });
      }
      case 'Concat':
        if (n.inputs.some((x) => this.state(x).k !== 'host')) return this.set(out, { k: 'opaque' });
        return this.set(out, { k: 'host', data: n.inputs.flatMap((x) => this.hostInts(x)), shape: dims });
      default:
        need(false, `${n.op} on int64`);
    }
  }

  private elementwise(n: Node, dims: number[]): void {
    const out = n.outputs[0];
    const bool = ['Greater', 'Less', 'Equal'].includes(n.op) || (n.op === 'Cast' && Number(n.attrs.to) === 9);
    let args = n.inputs.map((x) => this.exprOf(x));
    if (n.op === 'Pow') {
      const e = this.state(n.inputs[1]);
      need(e.k === 'expr' && e.e.k === 'lit', 'Pow with a tensor exponent');
      args = [args[0]];
      const c = ((e as { e: { v: number } }).e).v;
      return this.finish(out, { k: 'op', op: 'Pow', args, shape: dims, bool, c }, dims);
    }
    if (n.op === 'Identity' || n.op === 'StopGradient' || (n.op === 'Cast' && Number(n.attrs.to) === 1 && !isBool(args[0]))) {
      const s = this.state(n.inputs[0]);
      return this.set(out, s);
    }
    let e: Expr = { k: 'op', op: n.op, args, shape: dims, bool };
    // Too many buffers or ops for one kernel: write out the largest inlined argument first.
    while (bufsOf(e).size > MAX_BINDINGS - 1 || opsOf(e) > MAX_EXPR_OPS) {
      const i = args.map((a, j) => [opsOf(a), j]).filter(([c]) => c > 0).sort((a, b) => b[0] - a[0])[0]?.[1];
      need(i !== undefined, 'an element-wise op reading too many buffers');
      args = [...args];
      args[i!] = { k: 'read', view: this.viewOf(n.inputs[i!]) };
      e = { k: 'op', op: n.op, args, shape: dims, bool };
    }
    this.finish(out, e, dims);
  }

  /** Keeps an expression for its one consumer, or writes it out now. */
  private finish(out: string, e: Expr, dims: number[]): void {
    if (isBool(e)) {
      need(this.inlinable(out, dims), 'a boolean tensor that must be stored');
      return this.set(out, { k: 'expr', e, shape: dims });
    }
    if (this.inlinable(out, dims) || (e.k === 'lit' && !this.outputNames.has(out))) return this.set(out, { k: 'expr', e, shape: dims });
    const t = this.target(out, dims);
    this.write(e, dims, t);
    this.set(out, { k: 'view', view: t });
  }

  private viewNode(n: Node, dims: number[]): View {
    let v = this.viewOf(n.inputs[0]);
    switch (n.op) {
      case 'Transpose': {
        const perm = (n.attrs.perm as number[] | undefined) ?? v.shape.map((_, i) => v.shape.length - 1 - i);
        return { ...v, shape: perm.map((p) => v.shape[p]), strides: perm.map((p) => v.strides[p]) };
      }
      case 'Expand': {
        const lead = dims.length - v.shape.length;
        return { ...v, shape: dims, strides: dims.map((d, i) => (i < lead || (v.shape[i - lead] === 1 && d !== 1) ? 0 : v.strides[i - lead])) };
      }
      case 'Slice': {
        const starts = this.hostInts(n.inputs[1]);
        const axes = n.inputs[3] ? this.hostInts(n.inputs[3]) : starts.map((_, i) => i);
        let offset = v.offset;
        axes.forEach((a, i) => {
          const axis = a < 0 ? a + v.shape.length : a;
          const st = starts[i] < 0 ? starts[i] + v.shape[axis] : Math.min(starts[i], v.shape[axis]);
          offset += st * v.strides[axis];
        });
        return { ...v, offset, shape: dims };
      }
      default: {
        // Reshape, Flatten, Squeeze, Unsqueeze: free on a contiguous view, or when only 1s come and go.
        if (contiguous(v)) return { buf: v.buf, offset: v.offset, shape: dims, strides: rowMajor(dims) };
        const keptOld = v.shape.map((d, i) => [d, v.strides[i]]).filter(([d]) => d !== 1);
        const keptNew = dims.filter((d) => d !== 1);
        if (keptOld.length === keptNew.length && keptOld.every(([d], i) => d === keptNew[i])) {
          let j = 0;
          return { ...v, shape: dims, strides: dims.map((d) => (d === 1 ? 0 : keptOld[j++][1])) };
        }
        // Otherwise the data is laid out afresh first.
        const t = this.target(`${n.outputs[0]}#copy`, v.shape);
        this.write({ k: 'read', view: v }, v.shape, t);
        v = t;
        return { buf: v.buf, offset: 0, shape: dims, strides: rowMajor(dims) };
      }
    }
  }

  private matmul(n: Node, dims: number[]): void {
    const a = this.viewOf(n.inputs[0]);
    const b = this.viewOf(n.inputs[1]);
    need(a.shape.length >= 2 && b.shape.length >= 2, 'MatMul of a vector');
    const t = this.target(n.outputs[0], dims);
    const scratch = (bytes: number) => {
      const buf = `tmp:${this.slotOf(bytes)}`;
      this.refSlot(buf, 1);
      return buf;
    };
    this.steps.push(...matmulSteps(a, b, t, scratch, (buf) => this.refSlot(buf, -1)));
    this.set(n.outputs[0], { k: 'view', view: t });
  }

  private reduce(n: Node, dims: number[]): void {
    const inDims = this.dims(n.inputs[0]);
    const axes = (n.inputs[1] ? this.hostInts(n.inputs[1]) : (n.attrs.axes as number[])).map((a) => (a < 0 ? a + inDims.length : a));
    const e = n.op === 'ReduceMax' ? { k: 'read' as const, view: this.viewOf(n.inputs[0]) } : this.exprOf(n.inputs[0]);
    need(bufsOf(e).size <= MAX_BINDINGS - 1, 'a reduction reading too many buffers');
    const t = this.target(n.outputs[0], dims);
    const O = numel(dims);
    const R = numel(inDims) / Math.max(1, O);
    const max = n.op === 'ReduceMax';
    const scale = n.op === 'ReduceMean' ? 1 / R : 1;
    // Few outputs over many elements (a sum of squares over every gradient, a loss over every
    // token): partial results by parts first, so more than a few workgroups share the work.
    const parts = O < 2048 && R >= 16384 ? Math.min(1024, Math.ceil(R / 8192)) : 1;
    if (parts === 1) this.steps.push(reduceStep(e, inDims, axes, max, scale, t, 1));
    else {
      const buf = `tmp:${this.slotOf(O * parts * 4)}`;
      this.refSlot(buf, 1);
      this.steps.push(reduceStep(e, inDims, axes, max, 1, { buf, offset: 0, shape: [O, parts], strides: [parts, 1] }, parts));
      this.steps.push(reduceStep({ k: 'read', view: { buf, offset: 0, shape: [O, parts], strides: [parts, 1] } }, [O, parts], [1], max, scale, t, 1));
      this.refSlot(buf, -1);
    }
    this.set(n.outputs[0], { k: 'view', view: t });
  }

  /** Gather along an axis, and GatherND with index tuples of one (the rows' gradient): an indexed read. */
  private gather(n: Node, dims: number[]): void {
    const idx = this.state(n.inputs[1]);
    need(idx.k === 'index' || idx.k === 'gpuIndex', `${n.op} by indices computed on the host`);
    const ishape = (idx as { shape: number[] }).shape;
    const v = this.viewOf(n.inputs[0]);
    let axis: number;
    if (n.op === 'GatherND') {
      need(Number(n.attrs.batch_dims ?? 0) === 0 && ishape[ishape.length - 1] === 1 && ishape.length === 2, 'GatherND beyond rows');
      axis = 0;
    } else {
      need(ishape.length === 1, 'Gather by indices of rank other than 1');
      axis = Number(n.attrs.axis ?? 0);
      if (axis < 0) axis += v.shape.length;
    }
    let key: string;
    if (idx.k === 'index') {
      if (!this.indices.has(idx.root)) this.indices.set(idx.root, { distinct: false });
      key = `idx:${idx.root}`;
    } else key = (idx as { buf: string }).buf;
    const shape = [...v.shape.slice(0, axis), ishape[0], ...v.shape.slice(axis + 1)];
    this.finish(n.outputs[0], { k: 'gather', view: v, axis, idx: key, shape }, dims);
  }

  /** TopK along the last axis (largest first, ties to the lower index): values and i32 indices on the GPU. */
  private topk(n: Node): void {
    const inDims = this.dims(n.inputs[0]);
    const axis = Number(n.attrs.axis ?? -1);
    need(axis === -1 || axis === inDims.length - 1, 'TopK along an axis other than the last');
    need(Number(n.attrs.largest ?? 1) === 1, 'TopK of the smallest');
    const [k] = this.hostInts(n.inputs[1]);
    const x = this.viewOf(n.inputs[0]);
    const dims = this.dims(n.outputs[0]);
    const values = this.target(n.outputs[0], dims);
    const indices = `tmp:${this.slotOf(Math.max(4, numel(dims) * 4))}`;
    this.steps.push(topkStep(x, inDims, k, values, indices));
    this.set(n.outputs[0], { k: 'view', view: values });
    this.set(n.outputs[1], { k: 'gpuIndex', buf: indices, shape: dims });
  }

  /** ScatterND by rows (index tuples of one): data laid out afresh, then the updates written or added at their rows. */
  private scatter(n: Node, dims: number[]): void {
    const idx = this.state(n.inputs[1]);
    need(idx.k === 'index', 'ScatterND by computed indices');
    const ishape = (idx as { shape: number[] }).shape;
    need(ishape.length === 2 && ishape[1] === 1, 'ScatterND beyond rows');
    const root = (idx as { root: string }).root;
    const add = n.attrs.reduction === 'add';
    // Rows must be distinct for the kernel's threads to write them at once (checked at each run).
    this.indices.set(root, { distinct: true });
    const data = this.exprOf(n.inputs[0]);
    const upd = this.viewOf(n.inputs[2]);
    const t = this.target(n.outputs[0], dims);
    this.write(data, dims, t);
    this.steps.push(scatterStep(upd, `idx:${root}`, t, add));
    this.set(n.outputs[0], { k: 'view', view: t });
  }

  /** A kernel writing expression e (evaluated over dims) into the contiguous view t. */
  private write(e: Expr, dims: number[], t: View): void {
    this.steps.push(ewStep(e, dims, t));
  }
}

const isBool = (e: Expr): boolean => (e.k === 'op' ? e.bool : e.k === 'lit' ? !!e.bool : false);

function bufsOf(e: Expr, into = new Set<string>()): Set<string> {
  if (e.k === 'read') into.add(e.view.buf);
  else if (e.k === 'gather') into.add(e.view.buf).add(e.idx);
  else if (e.k === 'op') for (const a of e.args) bufsOf(a, into);
  return into;
}

function opsOf(e: Expr): number {
  return e.k === 'op' ? 1 + e.args.reduce((s, a) => s + opsOf(a), 0) : 0;
}

// --- WGSL

/** Bindings of a kernel: the buffers its expression reads, then what it writes. */
class Binder {
  readonly keys: string[] = [];
  private writes = new Set<string>();
  private ints = new Set<string>();
  /** The binding of `buf`; `int`: read (or written) as i32 indices. */
  name(buf: string, write = false, int = buf.startsWith('idx:')): string {
    let i = this.keys.indexOf(buf);
    if (i < 0) i = this.keys.push(buf) - 1;
    if (write) this.writes.add(buf);
    if (int) this.ints.add(buf);
    return `b${i}`;
  }
  decls(): string {
    return this.keys.map((k, i) => {
      const ty = this.ints.has(k) ? 'i32' : 'f32';
      return `@group(0) @binding(${i}) var<storage, ${this.writes.has(k) ? 'read_write' : 'read'}> b${i}: array<${ty}>;`;
    }).join('\n');
  }
}

/** The index of a view's element at the multi-index `idx` of `shape` (the view broadcast to it, right-aligned). */
function at(v: View, idx: string[], b: Binder): string {
  const lead = idx.length - v.shape.length;
  const terms = [String(v.offset)];
  v.shape.forEach((d, i) => {
    if (d !== 1 && v.strides[i] !== 0) terms.push(`${idx[i + lead]} * ${v.strides[i]}u`);
  });
  return `${b.name(v.buf)}[${terms.join(' + ').replace(/^0 \+ /, '')}]`;
}

/** Maps the multi-index of `outer` to that of an operand of shape `inner` broadcast into it. */
function broadcastIdx(inner: number[], idx: string[]): string[] {
  const lead = idx.length - inner.length;
  return inner.map((d, i) => (d === 1 ? '0u' : idx[i + lead]));
}

/** WGSL for e at the multi-index idx (of e's own shape); lets go into `lines`. */
function gen(e: Expr, idx: string[], b: Binder, lines: string[]): string {
  switch (e.k) {
    case 'lit':
      return e.bool ? (e.v ? 'true' : 'false') : lit(e.v);
    case 'read':
      return at(e.view, idx, b);
    case 'gather': {
      const i = broadcastIdx(e.shape, idx);
      const row = `u32(${b.name(e.idx, false, true)}[${i[e.axis]}])`;
      const vi = i.map((x, d) => (d === e.axis ? row : x));
      return at({ ...e.view }, vi, b);
    }
    case 'op': {
      const a = e.args.map((x) => {
        const shape = x.k === 'op' ? x.shape : x.k === 'gather' ? x.shape : x.k === 'read' ? x.view.shape : [];
        return gen(x, broadcastIdx(shape, idx), b, lines);
      });
      const name = `v${lines.length}`;
      lines.push(`let ${name} = ${opCode(e, a)};`);
      return name;
    }
  }
}

function opCode(e: Extract<Expr, { k: 'op' }>, a: string[]): string {
  switch (e.op) {
    case 'Add': return `${a[0]} + ${a[1]}`;
    case 'Sub': return `${a[0]} - ${a[1]}`;
    case 'Mul': return `${a[0]} * ${a[1]}`;
    case 'Div': return `${a[0]} / ${a[1]}`;
    case 'Neg': return `-${a[0]}`;
    case 'Sqrt': return `sqrt(${a[0]})`;
    case 'Reciprocal': return `1.0 / ${a[0]}`;
    case 'Sigmoid': return `1.0 / (1.0 + exp(-${a[0]}))`;
    case 'Exp': return `exp(${a[0]})`;
    case 'Log': return `log(${a[0]})`;
    case 'Tanh': return `tanh(clamp(${a[0]}, -20.0, 20.0))`;
    case 'Relu': return `max(${a[0]}, 0.0)`;
    case 'Pow': return e.c === 2 ? `${a[0]} * ${a[0]}` : e.c === 1 ? a[0] : e.c === 0.5 ? `sqrt(${a[0]})` : e.c === 3 ? `${a[0]} * ${a[0]} * ${a[0]}` : `pow(${a[0]}, ${lit(e.c!)})`;
    case 'Where': return `select(${a[2]}, ${a[1]}, ${a[0]})`;
    case 'Greater': return `${a[0]} > ${a[1]}`;
    case 'Less': return `${a[0]} < ${a[1]}`;
    case 'Equal': return `${a[0]} == ${a[1]}`;
    case 'Cast': return e.bool ? `${a[0]} != 0.0` : `select(0.0, 1.0, ${a[0]})`;
    default: throw new Unsupported(`op ${e.op}`);
  }
}

/** Splits the flat index `flat` over `dims` into per-dim variables (prefix p). */
function unflatten(dims: number[], flat: string, p: string, lines: string[]): string[] {
  const st = rowMajor(dims);
  return dims.map((d, i) => {
    if (d === 1) return '0u';
    const v = `${p}${i}`;
    lines.push(`let ${v} = ${i === 0 ? `${flat} / ${st[i]}u` : `(${flat} / ${st[i]}u) % ${d}u`};`);
    return v;
  });
}

/** Workgroups for n threads of WG each, in two dimensions past 65,535. */
function grid(n: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / WG));
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x), 1];
}

/** A kernel of one thread per element i < n (a grid of WG-thread workgroups), `body` its statements. */
function perElement(b: Binder, n: number, body: string[]): { code: string; groups: [number, number, number] } {
  const groups = grid(n);
  const code = `${b.decls()}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${groups[0] * WG}u;
  if (i >= ${n}u) { return; }
  ${body.join('\n  ')}
}`;
  return { code, groups };
}

function ewStep(e: Expr, dims: number[], t: View): Step {
  const b = new Binder();
  const lines: string[] = [];
  const idx = unflatten(dims, 'i', 'i', lines);
  const value = gen(e, idx, b, lines);
  const out = b.name(t.buf, true);
  const { code, groups } = perElement(b, numel(dims), [...lines, `${out}[${t.offset}u + i] = ${value};`]);
  return { code, bindings: b.keys, groups, kind: e.k === 'read' ? 'copy' : e.k === 'gather' ? 'gather' : 'ew' };
}

const RWG = 64;

/**
 * Reduces e (over inDims) along `axes` into t, one workgroup per output and part: with parts > 1,
 * each output's reduced elements are cut into that many runs and t holds (outputs, parts) partial
 * results, reduced again by a second step. `scale` multiplies the result (ReduceMean's 1/n).
 */
function reduceStep(e: Expr, inDims: number[], axes: number[], max: boolean, scale: number, t: View, parts: number): Step {
  const b = new Binder();
  const keptAxes = inDims.map((_, i) => i).filter((i) => !axes.includes(i));
  const keptDims = keptAxes.map((i) => inDims[i]);
  const redDims = axes.map((i) => inDims[i]);
  const O = numel(keptDims);
  const R = numel(redDims);
  const chunk = Math.ceil(R / parts);
  const lines: string[] = [];
  const oi = unflatten(keptDims, 'o', 'o', lines);
  const inner: string[] = [];
  const ri = unflatten(redDims, 'r', 'r', inner);
  const idx = inDims.map((_, i) => (axes.includes(i) ? ri[axes.indexOf(i)] : oi[keptAxes.indexOf(i)]));
  const body: string[] = [];
  const value = gen(e, idx, b, body);
  const out = b.name(t.buf, true);
  const n = O * parts;
  const groups: [number, number, number] = [Math.min(n, 65535), Math.ceil(n / 65535), 1];
  const code = `${b.decls()}
var<workgroup> part: array<f32, ${RWG}>;
@compute @workgroup_size(${RWG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let flat = wg.x + wg.y * ${groups[0]}u;
  let o = flat / ${parts}u;
  let p = flat % ${parts}u;
  ${lines.join('\n  ')}
  var acc = ${max ? '-3.4e38' : '0.0'};
  if (flat < ${n}u) {
    let end = min(p * ${chunk}u + ${chunk}u, ${R}u);
    for (var r = p * ${chunk}u + lid; r < end; r += ${RWG}u) {
      ${inner.join('\n      ')}
      ${body.join('\n      ')}
      acc = ${max ? `max(acc, ${value})` : `acc + ${value}`};
    }
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${RWG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] = ${max ? 'max(part[lid], part[lid + s])' : 'part[lid] + part[lid + s]'}; }
    workgroupBarrier();
  }
  if (lid == 0u && flat < ${n}u) { ${out}[${t.offset}u + flat] = part[0]${scale !== 1 ? ` * ${lit(scale)}` : ''}; }
}`;
  return { code, bindings: b.keys, groups, kind: 'reduce' };
}

/**
 * TopK of each row of n = inDims' last dim: one workgroup a row; an element's rank is the count
 * of elements larger than it (or equal and before it), and the first k ranks are written.
 */
function topkStep(x: View, inDims: number[], k: number, values: View, indices: string): Step {
  const b = new Binder();
  const n = inDims[inDims.length - 1];
  const rows = numel(inDims) / n;
  const lines: string[] = [];
  const ri = unflatten(inDims.slice(0, -1), 'row', 'r', lines);
  const [xi, xj] = [at(x, [...ri, 'i'], b), at(x, [...ri, 'j'], b)];
  const vo = b.name(values.buf, true);
  const io = b.name(indices, true, true);
  const code = `${b.decls()}
@compute @workgroup_size(${RWG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x;
  ${lines.join('\n  ')}
  for (var i = lid; i < ${n}u; i += ${RWG}u) {
    let xi = ${xi};
    var rank = 0u;
    for (var j = 0u; j < ${n}u; j++) {
      let xj = ${xj};
      if (xj > xi || (xj == xi && j < i)) { rank++; }
    }
    if (rank < ${k}u) {
      ${vo}[${values.offset}u + row * ${k}u + rank] = xi;
      ${io}[row * ${k}u + rank] = i32(i);
    }
  }
}`;
  return { code, bindings: b.keys, groups: [rows, 1, 1], kind: 'topk' };
}

function scatterStep(upd: View, idx: string, t: View, add: boolean): Step {
  const b = new Binder();
  const out = b.name(t.buf, true);
  const ix = b.name(idx);
  const n = numel(upd.shape);
  const rows = upd.shape[0];
  const row = n / Math.max(1, rows);
  const lines: string[] = [];
  const ui = unflatten(upd.shape, 'i', 'i', lines);
  const value = at(upd, ui, b);
  const { code, groups } = perElement(b, n, [
    ...lines,
    `let dst = ${t.offset}u + u32(${ix}[i / ${row}u]) * ${row}u + i % ${row}u;`,
    `${out}[dst] = ${add ? `${out}[dst] + ` : ''}${value};`,
  ]);
  return { code, bindings: b.keys, groups, kind: 'scatter' };
}

// --- matrix products: C (batch, M, N) = A (batch, M, K) · B (batch, K, N), operands through their views.

const TM = 64;
const TN = 64;
const TK = 16;

function matmulSteps(a: View, bv: View, t: View, scratch: (bytes: number) => string, free: (buf: string) => void): Step[] {
  const r = t.shape.length;
  const [M, N] = [t.shape[r - 2], t.shape[r - 1]];
  const K = a.shape[a.shape.length - 1];
  const batchDims = t.shape.slice(0, r - 2);
  const Z = numel(batchDims);
  const tiles = Math.ceil(M / TM) * Math.ceil(N / TN) * Z;
  // Few output tiles over a long K (a LoRA factor's gradient over every token): split K, sum after.
  const split = tiles < 64 && K >= 2048 ? Math.min(32, Math.ceil(K / 1024), Math.max(1, Math.floor(256 / tiles))) : 1;
  const steps: Step[] = [];
  const part = split > 1 ? scratch(split * Z * M * N * 4) : t.buf;
  steps.push(matmulStep(a, bv, part, split > 1 ? 0 : t.offset, M, N, K, batchDims, split));
  if (split > 1) {
    const bd = new Binder();
    const src = bd.name(part);
    const out = bd.name(t.buf, true);
    const n = Z * M * N;
    const { code, groups } = perElement(bd, n, [
      'var s = 0.0;',
      `for (var p = 0u; p < ${split}u; p++) { s += ${src}[p * ${n}u + i]; }`,
      `${out}[${t.offset}u + i] = s;`,
    ]);
    steps.push({ code, bindings: bd.keys, groups, kind: 'matmul' });
    free(part);
  }
  return steps;
}

function batchOffset(v: View, batchDims: number[], z: string, lines: string[], p: string): string {
  const lead = batchDims.length - (v.shape.length - 2);
  const zi = unflatten(batchDims, z, `${p}z`, lines);
  const terms = [`${v.offset}u`];
  for (let i = 0; i < v.shape.length - 2; i++) if (v.shape[i] !== 1 && v.strides[i] !== 0) terms.push(`${zi[i + lead]} * ${v.strides[i]}u`);
  return terms.join(' + ');
}

/**
 * The statements loading one K-tile of A (TM × TK) and of B (TK × TN) into workgroup memory.
 * Neighbouring threads load neighbouring addresses: along m for an A stored by columns (a
 * transposed view), along k otherwise; for B along k or n the same way.
 */
function tileLoads(A: string, B: string, a: View, bv: View, M: number, N: number): string {
  const [sam, sak] = a.strides.slice(-2);
  const [sbk, sbn] = bv.strides.slice(-2);
  const aByRows = sam === 1 && sak !== 1;
  const bByCols = sbk === 1 && sbn !== 1;
  return `${aByRows ? `let m = id % ${TM}u;
      let k = id / ${TM}u;` : `let m = id / ${TK}u;
      let k = id % ${TK}u;`}
      let gm = row0 + m;
      let gk = k0 + k;
      As[k][m] = select(0.0, ${A}[offA + gm * ${sam}u + gk * ${sak}u], gm < ${M}u && gk < kEnd);
      ${bByCols ? `let kk = id % ${TK}u;
      let n = id / ${TK}u;` : `let kk = id / ${TN}u;
      let n = id % ${TN}u;`}
      let gn = col0 + n;
      let gk2 = k0 + kk;
      Bs[kk][n] = select(0.0, ${B}[offB + gk2 * ${sbk}u + gn * ${sbn}u], gn < ${N}u && gk2 < kEnd);`;
}

/** One tiled product (or its K-part `wg.z / Z` of `split`): 64 × 64 outputs a workgroup, 4 × 4 a thread. */
function matmulStep(a: View, bv: View, outBuf: string, outOffset: number, M: number, N: number, K: number, batchDims: number[], split: number): Step {
  const b = new Binder();
  const [A, B, C] = [b.name(a.buf), b.name(bv.buf), b.name(outBuf, true)];
  const Z = numel(batchDims);
  const lines: string[] = [];
  const offA = batchOffset(a, batchDims, 'z', lines, 'a');
  const offB = batchOffset(bv, batchDims, 'z', lines, 'b');
  const kLen = Math.ceil(K / split / TK) * TK;
  const code = `${b.decls()}
var<workgroup> As: array<array<f32, ${TM}>, ${TK}>;
var<workgroup> Bs: array<array<f32, ${TN}>, ${TK}>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let z = wg.z % ${Z}u;
  let part = wg.z / ${Z}u;
  ${lines.join('\n  ')}
  let offA = ${offA};
  let offB = ${offB};
  let row0 = wg.y * ${TM}u;
  let col0 = wg.x * ${TN}u;
  let tid = lid.y * 16u + lid.x;
  let kStart = part * ${kLen}u;
  let kEnd = min(kStart + ${kLen}u, ${K}u);
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = kStart; k0 < kEnd; k0 += ${TK}u) {
    for (var i = 0u; i < 4u; i++) {
      let id = tid + i * 256u;
      ${tileLoads(A, B, a, bv, M, N)}
    }
    workgroupBarrier();
    for (var k = 0u; k < ${TK}u; k++) {
      var av: array<f32, 4>;
      var bw: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = As[k][lid.y * 4u + i];
        bw[i] = Bs[k][lid.x * 4u + i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(av[i], bw[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  let base = ${outOffset}u + part * ${Z * M * N}u + z * ${M * N}u;
  for (var i = 0u; i < 4u; i++) {
    let gm = row0 + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let gn = col0 + lid.x * 4u + j;
      if (gm < ${M}u && gn < ${N}u) { ${C}[base + gm * ${N}u + gn] = acc[i][j]; }
    }
  }
}`;
  return { code, bindings: b.keys, groups: [Math.ceil(N / TN), Math.ceil(M / TM), Z * split], kind: 'matmul' };
}

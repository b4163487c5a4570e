// The backward-graph generator: walks a forward graph in reverse, asks each op's rule for
// its input gradients, sums gradients that meet, and splits the result into a forward graph
// that also outputs what the backward needs (the saved activations) and a backward graph.
import { GraphBuilder, type Value } from './builder';
import type { Constant, Graph, Node, ValueInfo } from './ir';
import { opDef } from './ops/registry';
import type { GradContext } from './ops/types';

export interface BackwardSpec {
  /** Inputs whose gradients are wanted. */
  wrt: string[];
  /** Forward outputs that receive an incoming gradient (named `grad_<output>`). */
  seeds: string[];
  /**
   * wrt inputs whose gradient is added to an accumulator input `acc_grad_<wrt>` (same shape)
   * before it leaves, so work split into pieces sums its gradients on the device.
   */
  accumulate?: string[];
  /** The fused graph's outputs: the forward's and the gradients (default), or the gradients alone. */
  fusedOutputs?: 'all' | 'grads';
}

export interface Differentiated {
  /** Forward and backward in one graph: inputs are the forward's plus the seeds' gradients. */
  fused: Graph;
  /** The forward graph with the saved values added to its outputs. */
  forward: Graph;
  /** Reads the saved values and the seeds' gradients; outputs `grad_<wrt>` for each wrt. */
  backward: Graph;
  /** Values the backward reads from the forward side (inputs of the forward included). */
  saved: string[];
}

export const gradName = (name: string): string => `grad_${name}`;

/** Shape-only ops whose integer outputs the backward recomputes instead of saving. */
const REMAT_OPS = new Set(['Expand', 'Reshape', 'Unsqueeze', 'Squeeze']);

export function differentiate(fb: GraphBuilder, spec: BackwardSpec): Differentiated {
  const forwardCount = fb.nodes.length;
  const forwardOutputs = fb.outputs.map((o) => o.name);
  for (const w of spec.wrt) if (!fb.inputs.some((i) => i.name === w)) throw new Error(`autodiff: ${w} is not an input of ${fb.name}`);
  for (const s of spec.seeds) if (!forwardOutputs.includes(s)) throw new Error(`autodiff: ${s} is not an output of ${fb.name}`);
  const walk = new BackwardWalk(fb, spec);
  for (let k = forwardCount - 1; k >= 0; k--) walk.node(fb.nodes[k]);
  const gradOutputs = spec.wrt.map((w) => walk.gradOutput(w));
  for (let k = 0; k < forwardCount; k++) walk.forwardSide.add(k);
  return split(fb, walk.forwardSide, walk.seedInputs, gradOutputs, spec.fusedOutputs ?? 'all');
}

/** The reverse walk over a forward graph: gradients per value, summed where they meet. */
class BackwardWalk {
  /** Nodes that belong to the forward side (the forward's, and shapes of forward values). */
  readonly forwardSide = new Set<number>();
  /** The seeds' gradients and the accumulators: the backward's own inputs. */
  readonly seedInputs: ValueInfo[] = [];
  /** Values that depend on a wrt input: only these carry gradients. */
  private requires: Set<string>;
  private shapes = new Map<string, Value>();
  private grads = new Map<string, Value[]>();

  constructor(private readonly fb: GraphBuilder, private readonly spec: BackwardSpec) {
    this.requires = new Set(spec.wrt);
    for (const n of fb.nodes) {
      if (n.inputs.some((i) => this.requires.has(i)) && opDef(n.op).grad) for (const o of n.outputs) this.requires.add(o);
    }
    fb.prefix = 'bw_';
    for (const s of spec.seeds) {
      const v = this.value(s);
      const seed: ValueInfo = { name: gradName(s), dtype: v.dtype, shape: v.shape };
      fb.values.set(seed.name, seed);
      this.seedInputs.push(seed);
      this.grads.set(s, [seed]);
    }
  }

  private value(name: string): Value {
    const v = this.fb.values.get(name);
    if (!v) throw new Error(`autodiff: unknown value ${name}`);
    return v;
  }

  /** The gradients that reached a value, summed into one (null: none). */
  private sum(name: string): Value | null {
    const list = this.grads.get(name);
    if (!list || list.length === 0) return null;
    let acc = list[0];
    for (let i = 1; i < list.length; i++) acc = this.fb.add(acc, list[i]);
    this.grads.set(name, [acc]);
    return acc;
  }

  private ctxFor(needs: boolean[]): GradContext {
    const { fb, shapes, forwardSide } = this;
    return {
      b: fb,
      needs,
      shapeOf(v: Value) {
        let s = shapes.get(v.name);
        if (!s) {
          s = fb.shape(v);
          forwardSide.add(fb.nodes.length - 1);
          shapes.set(v.name, s);
        }
        return s;
      },
    };
  }

  /** Asks the node's rule for its input gradients and files them under its inputs. */
  node(node: Node): void {
    const needs = node.inputs.map((i) => this.requires.has(i));
    if (!needs.some(Boolean)) return;
    const dys = node.outputs.map((o) => this.sum(o));
    if (dys.every((d) => d === null)) return;
    const def = opDef(node.op);
    if (!def.grad) throw new Error(`autodiff: ${node.op} (${node.outputs[0]}) has no gradient rule`);
    const x = node.inputs.map((n) => this.value(n));
    const y = node.outputs.map((n) => this.value(n));
    let dx: (Value | null)[];
    try {
      dx = def.grad(this.ctxFor(needs), x, y, dys, node.attrs);
    } catch (e) {
      throw new Error(`autodiff: gradient of ${node.op} (${node.outputs[0]}) failed: ${(e as Error).message}`);
    }
    if (dx.length !== node.inputs.length) {
      throw new Error(`autodiff: ${node.op} rule returned ${dx.length} gradients for ${node.inputs.length} inputs`);
    }
    dx.forEach((g, i) => {
      if (!g || !needs[i]) return;
      const target = x[i];
      if (g.dtype !== target.dtype || g.shape.length !== target.shape.length) {
        throw new Error(`autodiff: ${node.op} gave ${g.dtype}[${g.shape}] as the gradient of ${target.name}: ${target.dtype}[${target.shape}]`);
      }
      const list = this.grads.get(target.name) ?? [];
      list.push(g);
      this.grads.set(target.name, list);
    });
  }

  /** The gradient of a wrt input as an output `grad_<w>` (zeros when none reached it; added to its accumulator when asked). */
  gradOutput(w: string): ValueInfo {
    const fb = this.fb;
    let g = this.sum(w);
    if (!g) g = fb.op1('Expand', [fb.scalar(0, this.value(w).dtype), this.ctxFor([]).shapeOf(this.value(w))]);
    if (this.spec.accumulate?.includes(w)) {
      const acc: ValueInfo = { name: `acc_${gradName(w)}`, dtype: g.dtype, shape: this.value(w).shape };
      fb.values.set(acc.name, acc);
      this.seedInputs.push(acc);
      g = fb.add(acc, g);
    }
    const out: ValueInfo = { name: gradName(w), dtype: g.dtype, shape: this.value(w).shape };
    fb.values.set(out.name, out);
    fb.nodes.push({ op: 'Identity', inputs: [g.name], outputs: [out.name], attrs: {} });
    return out;
  }
}

/**
 * The backward's nodes (not on the forward side, needed by the gradients) and the values it
 * reads from the forward. Integer tensors that the forward only reshapes or expands (row
 * indices) are recomputed there rather than saved: an index expanded to (B, K, C) would cost
 * more than the activation it indexes.
 */
function backwardPart(fb: GraphBuilder, forwardSide: Set<number>, producer: Map<string, number>, constants: Map<string, Constant>, seedNames: Set<string>, gradOutputs: ValueInfo[]) {
  const remat = new Set<number>();
  const bwdConsts = new Set<string>();
  for (;;) {
    const bwdNodes = live(fb.nodes, producer, gradOutputs.map((g) => g.name), (i) => !forwardSide.has(i) || remat.has(i));
    const bwdProduced = new Set(bwdNodes.flatMap((i) => fb.nodes[i].outputs));
    const saved: string[] = [];
    for (const i of bwdNodes) {
      for (const name of fb.nodes[i].inputs) {
        if (bwdProduced.has(name) || seedNames.has(name)) continue;
        if (constants.has(name)) bwdConsts.add(name);
        else if (!saved.includes(name)) saved.push(name);
      }
    }
    const cheap = saved.filter((name) => {
      const i = producer.get(name);
      const v = fb.values.get(name)!;
      return i !== undefined && !remat.has(i) && REMAT_OPS.has(fb.nodes[i].op) && (v.dtype === 'int64' || v.dtype === 'bool');
    });
    if (cheap.length === 0) return { bwdNodes, bwdProduced, saved, bwdConsts };
    for (const name of cheap) remat.add(producer.get(name)!);
  }
}

/** A graph of some of the builder's nodes, with the constants they (or `extraConsts`) use. */
function subgraph(fb: GraphBuilder, constants: Map<string, Constant>, name: string, inputs: ValueInfo[], outputs: ValueInfo[], idx: number[], extraConsts: Set<string> = new Set()): Graph {
  const nodes: Node[] = idx.map((i) => fb.nodes[i]);
  const used = new Set([...nodes.flatMap((n) => n.inputs), ...extraConsts]);
  const consts = [...constants.values()].filter((c) => used.has(c.info.name));
  const values = new Map<string, ValueInfo>();
  for (const v of [...inputs, ...consts.map((c) => c.info)]) values.set(v.name, v);
  for (const n of nodes) for (const o of n.outputs) values.set(o, fb.values.get(o)!);
  return { name, inputs, outputs, nodes, constants: consts, values };
}

function split(fb: GraphBuilder, forwardSide: Set<number>, seeds: ValueInfo[], gradOutputs: ValueInfo[], fusedOutputs: 'all' | 'grads'): Differentiated {
  const constants = new Map<string, Constant>(fb.constants.map((c) => [c.info.name, c]));
  const producer = new Map<string, number>();
  fb.nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o, i)));
  const fwdInputs = new Set(fb.inputs.map((i) => i.name));
  const { bwdNodes, bwdProduced, saved, bwdConsts } = backwardPart(fb, forwardSide, producer, constants, new Set(seeds.map((s) => s.name)), gradOutputs);
  for (const g of gradOutputs) {
    // A gradient that is directly a seed or a saved value still leaves through its Identity.
    if (!bwdProduced.has(g.name)) throw new Error(`autodiff: gradient ${g.name} was not produced`);
  }

  const savedOutputs = saved.filter((s) => !fwdInputs.has(s)).map((s) => fb.values.get(s)!);
  const fwdOutputs = [...fb.outputs, ...savedOutputs];
  const fwdNodes = live(fb.nodes, producer, fwdOutputs.map((o) => o.name), (i) => forwardSide.has(i));
  const backwardInputs = [...saved.map((s) => fb.values.get(s)!), ...seeds];

  const fusedOuts = fusedOutputs === 'all' ? [...fb.outputs, ...gradOutputs] : gradOutputs;
  const fusedIdx = live(fb.nodes, producer, fusedOuts.map((o) => o.name), () => true);
  // Inputs only the dropped forward outputs read are left out of the fused graph.
  const fusedUses = new Set(fusedIdx.flatMap((i) => fb.nodes[i].inputs));
  const fusedInputs = [...fb.inputs.filter((i) => fusedUses.has(i.name)), ...seeds];
  return {
    fused: subgraph(fb, constants, `${fb.name}_fused`, fusedInputs, fusedOuts, fusedIdx),
    forward: subgraph(fb, constants, `${fb.name}_fwd`, [...fb.inputs], fwdOutputs, fwdNodes),
    backward: subgraph(fb, constants, `${fb.name}_bwd`, backwardInputs, gradOutputs, bwdNodes, bwdConsts),
    saved,
  };
}

/** Indices (in order) of the nodes among `allowed` that the named values depend on. */
function live(nodes: Node[], producer: Map<string, number>, roots: string[], allowed: (i: number) => boolean): number[] {
  const keep = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const name = stack.pop()!;
    const i = producer.get(name);
    if (i === undefined || keep.has(i) || !allowed(i)) continue;
    keep.add(i);
    stack.push(...nodes[i].inputs);
  }
  return [...keep].sort((a, b) => a - b);
}

export { GraphBuilder };

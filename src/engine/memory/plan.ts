// What a session run holds at its peak, from the graph alone: bind the symbolic dims to the
// fed shapes, then walk the nodes in order, freeing each value after its last use. This is
// onnxruntime's transient use as its planner would see it (its arena may round up).
import { dimFactors, DTYPE_BYTES, type Dim, type Graph } from '../graph/ir';

function resolve(d: Dim, env: Map<string, number>): number {
  const { n, syms } = dimFactors(d);
  return syms.reduce((p, s) => p * (env.get(s) ?? 1), n);
}

/** Binds symbolic dims by matching graph inputs against the dims actually fed. */
export function bindDims(g: Graph, feeds: Record<string, { dims: readonly number[] }>): Map<string, number> {
  const env = new Map<string, number>();
  for (const i of g.inputs) {
    const dims = feeds[i.name]?.dims;
    if (!dims) continue;
    i.shape.forEach((d, k) => {
      if (typeof d === 'string' && !d.includes('*')) env.set(d, dims[k]);
    });
  }
  return env;
}

/** Peak bytes of intermediate values (not inputs, not constants) alive at once during a run. */
export function plannedPeakBytes(g: Graph, env: Map<string, number>): number {
  const lastUse = new Map<string, number>();
  g.nodes.forEach((n, i) => n.inputs.forEach((x) => lastUse.set(x, i)));
  const outputs = new Set(g.outputs.map((o) => o.name));
  const size = (name: string) => {
    const v = g.values.get(name);
    if (!v) return 0;
    return v.shape.reduce<number>((p, d) => p * resolve(d, env), 1) * DTYPE_BYTES[v.dtype];
  };
  let live = 0;
  let peak = 0;
  const alive = new Map<string, number>();
  g.nodes.forEach((n, i) => {
    for (const o of n.outputs) {
      const b = size(o);
      alive.set(o, b);
      live += b;
    }
    peak = Math.max(peak, live);
    for (const x of n.inputs) {
      if (alive.has(x) && (lastUse.get(x) ?? -1) <= i && !outputs.has(x)) {
        live -= alive.get(x)!;
        alive.delete(x);
      }
    }
  });
  return peak;
}

/** A value's dims under bound dims, or null when one of its symbols is not bound. */
export function resolvedDims(g: Graph, name: string, env: Map<string, number>): number[] | null {
  const v = g.values.get(name);
  if (!v) return null;
  const dims: number[] = [];
  for (const d of v.shape) {
    const { n, syms } = dimFactors(d);
    if (syms.some((s) => !env.has(s))) return null;
    dims.push(syms.reduce((p, s) => p * env.get(s)!, n));
  }
  return dims;
}

/** Bytes of one value of a graph under bound dims (0 for a name the graph does not have). */
export function valueBytes(g: Graph, name: string, env: Map<string, number>): number {
  const v = g.values.get(name);
  if (!v) return 0;
  return v.shape.reduce<number>((p, d) => p * resolve(d, env), 1) * DTYPE_BYTES[v.dtype];
}

/** What one run of a graph takes: its planned transient peak, the bytes of each output, and of its inputs together. */
export function runBytes(g: Graph, env: Map<string, number>): { transient: number; outputs: Map<string, number>; inputs: number } {
  const inputs = g.inputs.reduce((n, i) => n + valueBytes(g, i.name, env), 0);
  return { transient: plannedPeakBytes(g, env), outputs: new Map(g.outputs.map((o) => [o.name, valueBytes(g, o.name, env)])), inputs };
}

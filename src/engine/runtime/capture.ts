// Graph capture under WebGPU. A session made with onnxruntime's enableGraphCapture records its
// kernels' dispatches in its first run and replays them in later ones, skipping what onnxruntime
// does on the host for each kernel (shapes, buffers, uniforms, bind groups): on a GPU reached
// through Dawn, that work and not the GPU's was most of a training step (bench/RESULTS.md).
//
// A replay binds the buffers the capture bound, so each captured session has buffers of its own
// for every input and output: a run copies its inputs in and its outputs out, as dispatches in the
// command stream (GpuKernels.copy), and returns the outputs in buffers of the engine's pool. Those
// buffers are onnxruntime's own outputs (of an upload): its C++ provider lets go of a buffer the
// caller lent at the end of every run, and a replay then binds a buffer it no longer has, while
// one it made stays its own until disposed. A
// capture holds one set of input dims; a graph is captured for a few sets (its segments' shapes),
// and runs the usual way beyond them or where onnxruntime refuses (a node it would place on the
// CPU, an output whose dims the inputs do not settle).
import type * as ortTypes from 'onnxruntime-common';
import { DTYPE_BYTES, graphKey, type DType, type Graph } from '../graph/ir';
import { toOnnx } from '../graph/onnx';
import { resolvedDims } from '../memory/plan';
import { alignedSize } from './kernels/pool';
import type { GpuKernels } from './kernels/kernels';

type Tensor = ortTypes.Tensor;
type Ort = typeof ortTypes;

/** Integer inputs of at most this many values, fed from the host, are taken as shapes: their values join the capture's key. */
export const SHAPE_VALUES = 16;

/** Where an integer computed from the inputs is read on the GPU at run time: the index operand of these operators. */
const GPU_INDEX_READERS = new Set(['Gather', 'GatherND', 'ScatterND', 'GatherElements']);

/**
 * Integer inputs whose values reach an operator that is not a GPU index reader (an Unsqueeze, a
 * Reshape, a Cast of an index list): onnxruntime places such a node on the CPU, and a capture
 * fixes what it computed in its first run (the C++ provider does so without a word; the
 * JavaScript one refuses the session). Small host inputs (shapes) are exempt: their values join
 * the capture's key. Returns the first such use, or null.
 */
export function hostIntegerUse(graph: Graph, small: (name: string) => boolean): string | null {
  const data = new Set(graph.inputs.filter((i) => (i.dtype === 'int64' || i.dtype === 'int32') && !small(i.name)).map((i) => i.name));
  for (const n of graph.nodes) {
    for (let at = 0; at < n.inputs.length; at++) {
      if (data.has(n.inputs[at]) && !(at === 1 && GPU_INDEX_READERS.has(n.op))) return `${n.op} reads the values of ${n.inputs[at]} on the host`;
    }
  }
  return null;
}

/** Operators that only give an integer tensor other dims: the same values, in the same order. */
const REDIMS = new Set(['Unsqueeze', 'Squeeze', 'Reshape', 'Flatten', 'Identity']);

/**
 * The graph with each Unsqueeze, Reshape and the like of an integer input's values (an index list
 * given another axis) made an input of its own, fed the input's values under the node's dims: a
 * node onnxruntime would run on the host becomes a copy on the GPU. `sources` maps each new input
 * to the input it repeats.
 */
export function withIndexViews(graph: Graph, isData: (name: string) => boolean): { graph: Graph; sources: Map<string, string> } {
  const sources = new Map<string, string>();
  const root = (name: string) => sources.get(name) ?? (isData(name) ? name : null);
  const nodes = graph.nodes.filter((n) => {
    const from = REDIMS.has(n.op) ? root(n.inputs[0]) : null;
    if (!from) return true;
    sources.set(n.outputs[0], from);
    return false;
  });
  if (!sources.size) return { graph, sources };
  const views = [...sources.keys()].map((name) => graph.values.get(name)!);
  const used = new Set(nodes.flatMap((n) => n.inputs));
  for (const o of graph.outputs) used.add(o.name);
  // Inputs nothing reads any more are left out: an unused input on the GPU costs a read back.
  const inputs = [...graph.inputs.filter((i) => used.has(i.name) || ![...sources.values()].includes(i.name)), ...views.filter((v) => used.has(v.name))];
  const read = new Set(nodes.flatMap((n) => n.inputs));
  return { graph: { ...graph, inputs, nodes, constants: graph.constants.filter((c) => read.has(c.info.name) || used.has(c.info.name)) }, sources };
}

/** Integer values computed from shapes and constants alone (the same at every run of one capture). */
function shapeValues(graph: Graph): Set<string> {
  const fixed = new Set(graph.constants.map((c) => c.info.name));
  for (const n of graph.nodes) {
    if (n.op === 'Shape' || (n.inputs.length > 0 && n.inputs.every((i) => i === '' || fixed.has(i)))) for (const o of n.outputs) fixed.add(o);
  }
  return fixed;
}

/** An integer tensor on the host small enough to be a shape (SHAPE_VALUES). */
function isShape(t: Tensor): boolean {
  return (t.type === 'int64' || t.type === 'int32') && t.location === 'cpu' && t.size <= SHAPE_VALUES;
}

/** Input dims captured per graph at most; more shapes of one graph run uncaptured. */
export const CAPTURES_PER_GRAPH = 4;

interface Captured {
  session: ortTypes.InferenceSession;
  /** The graph as captured (withIndexViews) and the inputs its index views repeat. */
  graph: Graph;
  sources: Map<string, string>;
  /** Integer outputs computed from shapes alone: their values, read at the capture (null before). */
  fixed: Map<string, BigInt64Array | Int32Array | null>;
  /** The buffers a replay reads and writes, as tensors fed and fetched at every run. */
  inputs: Record<string, Tensor>;
  outputs: Record<string, Tensor>;
  /** onnxruntime's tensors that own those buffers. */
  owners: Tensor[];
  /** Dims of each output (for the pool's copy handed back). */
  dims: Record<string, number[]>;
  bytes: number;
  /** Runs so far (the first one captures). */
  runs: number;
}

type OutputType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool';

export class GraphCaptures {
  private entries = new Map<string, Promise<Captured | null>>();
  private perGraph = new Map<string, number>();
  /** Why graphs were not captured, by graph name (the first reason each). */
  readonly refused = new Map<string, string>();

  constructor(
    private readonly ort: Ort,
    private readonly kernels: GpuKernels,
    private readonly sessionOptions: ortTypes.InferenceSession.SessionOptions,
    /** A float32 tensor of n zeros in a GPU buffer onnxruntime made. */
    private readonly zeros: (n: number) => Promise<Tensor>,
    private readonly log?: (line: string) => void,
  ) {}

  /** Captured sessions, their staging bytes, and runs that replayed. */
  stats(): { sessions: number; stagingBytes: number; replays: number; refused: Record<string, string> } {
    let sessions = 0;
    let stagingBytes = 0;
    let replays = 0;
    for (const c of this.settled.values()) {
      sessions++;
      stagingBytes += c.bytes;
      replays += Math.max(0, c.runs - 1);
    }
    return { sessions, stagingBytes, replays, refused: Object.fromEntries(this.refused) };
  }

  private settled = new Map<string, Captured>();

  /** Runs the graph on its capture; null when it is not captured (the caller runs it the usual way). */
  async run(graph: Graph, inputs: Record<string, Tensor>, env: Map<string, number>): Promise<Record<string, Tensor> | null> {
    const gk = graphKey(graph);
    const small = (name: string) => isShape(inputs[name]);
    const key = `${gk}|${graph.inputs.map((i) => inputs[i.name].dims.join('x') + (small(i.name) ? `=${(inputs[i.name].data as BigInt64Array | Int32Array).join(',')}` : '')).join(';')}`;
    let entry = this.entries.get(key);
    if (!entry) {
      const count = this.perGraph.get(gk) ?? 0;
      if (count >= CAPTURES_PER_GRAPH) return null;
      this.perGraph.set(gk, count + 1);
      entry = this.make(graph, key, inputs, env, small);
      this.entries.set(key, entry);
    }
    const c = await entry;
    if (!c) return null;
    const k = this.kernels;
    const temps: GPUBuffer[] = [];
    const copies: { src: GPUBuffer; dst: GPUBuffer }[] = [];
    for (const i of c.graph.inputs) {
      const from = c.sources.get(i.name) ?? i.name;
      // A shape's values are the key's: written once.
      if (c.runs > 0 && small(from)) continue;
      const t = inputs[from];
      let src: GPUBuffer;
      if (t.location === 'gpu-buffer') src = t.gpuBuffer;
      else {
        const d = t.data as ArrayBufferView;
        src = k.uploadBytes(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
        temps.push(src);
      }
      copies.push({ src, dst: c.inputs[i.name].gpuBuffer });
    }
    k.copy(copies);
    for (const b of temps) k.giveBuffer(b);
    try {
      await c.session.run(c.inputs, c.outputs);
    } catch (e) {
      if (c.runs > 0) throw new Error(`${graph.name}: replay ${c.runs} failed: ${(e as Error).message}`);
      // The capture itself failed: this graph runs the usual way from now on.
      this.refuse(graph.name, (e as Error).message);
      this.entries.set(key, Promise.resolve(null));
      await this.drop(key, c);
      return null;
    }
    c.runs++;
    const out: Record<string, Tensor> = {};
    const back: { src: GPUBuffer; dst: GPUBuffer }[] = [];
    const fixed = graph.outputs.filter((o) => c.fixed.has(o.name));
    if (c.runs === 1 && fixed.length) {
      // Shapes computed in the graph: the same at every replay, read once.
      const read = await k.readTensors(fixed.map((o) => c.outputs[o.name]), fixed.map((o) => c.dims[o.name].reduce((x, y) => x * y, 1) * DTYPE_BYTES[o.dtype]));
      fixed.forEach((o, i) => c.fixed.set(o.name, o.dtype === 'int32' ? new Int32Array(read[i]) : new BigInt64Array(read[i])));
    }
    for (const o of graph.outputs) {
      const values = c.fixed.get(o.name);
      if (values) {
        out[o.name] = new this.ort.Tensor(o.dtype as 'int64', values as BigInt64Array, c.dims[o.name]);
        continue;
      }
      const t = k.output(c.dims[o.name], o.dtype as OutputType);
      back.push({ src: c.outputs[o.name].gpuBuffer, dst: t.gpuBuffer });
      out[o.name] = t;
    }
    k.copy(back);
    return out;
  }

  private refuse(name: string, why: string): void {
    if (!this.refused.has(name)) this.refused.set(name, why);
    this.log?.(`graph capture: ${name} runs uncaptured (${why.split('\n')[0]})`);
  }

  private async make(graph: Graph, key: string, inputs: Record<string, Tensor>, env: Map<string, number>, small: (name: string) => boolean): Promise<Captured | null> {
    const isData = (name: string) => graph.inputs.some((i) => i.name === name && (i.dtype === 'int64' || i.dtype === 'int32')) && !small(name);
    const { graph: g, sources } = withIndexViews(graph, isData);
    const host = hostIntegerUse(g, (name) => !isData(name) && !sources.has(name));
    if (host) {
      this.refuse(graph.name, host);
      return null;
    }
    const shapes = shapeValues(g);
    const fixed = new Map<string, BigInt64Array | Int32Array | null>();
    const dims: Record<string, number[]> = {};
    for (const o of graph.outputs) {
      const d = resolvedDims(g, o.name, env);
      if (!d || o.dtype === 'float64') {
        this.refuse(graph.name, d ? `output ${o.name} is float64` : `output ${o.name}'s dims are not settled by the inputs`);
        return null;
      }
      if (o.dtype === 'int64' || o.dtype === 'int32') {
        if (!shapes.has(o.name)) {
          this.refuse(graph.name, `output ${o.name} holds integers computed from data`);
          return null;
        }
        fixed.set(o.name, null);
      }
      dims[o.name] = d;
    }
    let session: ortTypes.InferenceSession;
    try {
      session = await this.ort.InferenceSession.create(toOnnx(g), { ...this.sessionOptions, enableGraphCapture: true, preferredOutputLocation: 'gpu-buffer' });
    } catch (e) {
      this.refuse(graph.name, (e as Error).message);
      return null;
    }
    const c: Captured = { session, graph: g, sources, fixed: fixed as Map<string, BigInt64Array | Int32Array>, inputs: {}, outputs: {}, owners: [], dims, bytes: 0, runs: 0 };
    const staged = async (dtype: DType, d: readonly number[]): Promise<Tensor> => {
      const size = alignedSize(d.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype]);
      const owner = await this.zeros(size / 4);
      c.owners.push(owner);
      c.bytes += size;
      return this.ort.Tensor.fromGpuBuffer(owner.gpuBuffer, { dataType: dtype as OutputType, dims: d });
    };
    for (const i of g.inputs) c.inputs[i.name] = await staged(i.dtype, sources.has(i.name) ? resolvedDims(g, i.name, env)! : inputs[i.name].dims);
    for (const o of g.outputs) c.outputs[o.name] = await staged(o.dtype, dims[o.name]);
    this.settled.set(key, c);
    this.log?.(`graph capture: ${graph.name} [${graph.inputs.map((i) => inputs[i.name].dims.join('x')).join(' ')}], ${(c.bytes / 2 ** 20).toFixed(1)} MiB of staging`);
    return c;
  }

  private async drop(key: string, c: Captured): Promise<void> {
    this.settled.delete(key);
    await c.session.release();
    for (const t of c.owners) t.dispose();
  }

  async release(): Promise<void> {
    for (const [key, c] of [...this.settled]) await this.drop(key, c);
    this.entries.clear();
    this.perGraph.clear();
  }
}

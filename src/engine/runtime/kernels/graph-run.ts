/// <reference types="@webgpu/types" />
// Runs the plans of graph-plan.ts on onnxruntime's GPU device: the run's inputs are read where
// they lie (GPU buffers; host data is uploaded), scratch slots and outputs come from the engine's
// buffer pool, and every kernel of the run is recorded in one compute pass of the open stream.
import type * as ortTypes from 'onnxruntime-common';
import { graphKey, type Graph } from '../../graph/ir';
import { planGraph, type GraphPlan } from './graph-plan';
import type { GpuKernels } from './kernels';
import { alignedSize } from './pool';
import { batch, dispatch } from './stream';

type Tensor = ortTypes.Tensor;

const STORAGE = 0x80 | 0x04 | 0x08;
const COPY_DST = 0x08;

interface Ready {
  plan: GraphPlan;
  pipelines: GPUComputePipeline[];
  constants: Map<string, GPUBuffer>;
}

export class GraphRunner {
  private plans = new Map<string, Promise<Ready | null>>();
  private pipelines = new Map<string, Promise<GPUComputePipeline>>();
  /** Graphs run here and graphs left to onnxruntime (with the planner's reason), by name. */
  readonly counts = { ran: new Map<string, number>(), declined: new Map<string, string>() };

  constructor(private readonly k: GpuKernels, private readonly ort: typeof ortTypes) {}

  /**
   * Scratch buffers of the runs, kept by size from one run to the next: only kernels write them
   * (no queue write that could overtake a command recorded earlier), and runs follow each other
   * in the GPU's queue, so a run may take them again as soon as the last one is recorded. They
   * stay allocated (the most any one run needs at once, by size); the pool's cap would
   * otherwise make and free a long context's scratch at every run.
   */
  private freeSlots = new Map<number, GPUBuffer[]>();

  private slot(size: number): GPUBuffer {
    let list = this.freeSlots.get(size);
    if (!list) this.freeSlots.set(size, (list = []));
    return list.pop() ?? this.device.createBuffer({ size, usage: STORAGE });
  }

  /** Bytes of scratch buffers held between runs. */
  get slotBytes(): number {
    let n = 0;
    for (const [size, list] of this.freeSlots) n += size * list.length;
    return n;
  }

  /** Frees the scratch buffers held between runs. */
  clear(): void {
    for (const list of this.freeSlots.values()) for (const b of list) b.destroy();
    this.freeSlots.clear();
  }

  private get device(): GPUDevice {
    return this.k.device;
  }

  private pipeline(code: string): Promise<GPUComputePipeline> {
    let p = this.pipelines.get(code);
    if (!p) {
      p = this.device.createComputePipelineAsync({ layout: 'auto', compute: { module: this.device.createShaderModule({ code }), entryPoint: 'main' } });
      this.pipelines.set(code, p);
    }
    return p;
  }

  private ready(graph: Graph, feeds: Record<string, Tensor>): Promise<Ready | null> {
    const key = `${graphKey(graph)}|${graph.inputs.map((i) => feeds[i.name].dims.join('x')).join(',')}`;
    let r = this.plans.get(key);
    if (!r) {
      r = (async () => {
        const plan = planGraph(graph, feeds, (why) => this.counts.declined.set(graph.name, why));
        if (!plan) return null;
        const pipelines = await Promise.all(plan.steps.map((s) => this.pipeline(s.code)));
        const constants = new Map<string, GPUBuffer>();
        for (const [name, data] of plan.constants) {
          const b = this.device.createBuffer({ size: alignedSize(data.byteLength), usage: STORAGE });
          this.device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
          constants.set(`const:${name}`, b);
        }
        return { plan, pipelines, constants };
      })();
      this.plans.set(key, r);
    }
    return r;
  }

  /**
   * Runs the graph with the engine's kernels: every output, as onnxruntime's run would give them
   * (float32 in GPU buffers, int64 on the host). Null when the graph is not one the planner
   * handles, or its index inputs are not what the plan assumes; nothing has run then.
   */
  async run(graph: Graph, feeds: Record<string, Tensor>): Promise<Record<string, Tensor> | null> {
    const r = await this.ready(graph, feeds);
    if (!r) return null;
    const { plan } = r;
    // Index lists first: a run that cannot take them must leave nothing done.
    const indexData = indexLists(plan, feeds);
    if (!indexData) return null;
    const bufs = new Map<string, GPUBuffer>(r.constants);
    const lent: GPUBuffer[] = [];
    const uploaded: Tensor[] = [];
    for (const name of plan.inputs) {
      let t = feeds[name];
      if (t.location !== 'gpu-buffer') {
        t = this.k.upload(t.data as Float32Array, [...t.dims]);
        uploaded.push(t);
      }
      bufs.set(`in:${name}`, t.gpuBuffer);
    }
    for (const [root, ints] of indexData) {
      const b = this.k.pool.take(alignedSize(ints.byteLength), STORAGE | COPY_DST);
      if (ints.byteLength) this.device.queue.writeBuffer(b, 0, ints.buffer, ints.byteOffset, ints.byteLength);
      bufs.set(`idx:${root}`, b);
      lent.push(b);
    }
    const slots = plan.slots.map((bytes, i) => {
      const b = this.slot(alignedSize(bytes));
      bufs.set(`tmp:${i}`, b);
      return b;
    });
    const out = this.outputs(plan, feeds, bufs);
    batch(this.device, () => {
      plan.steps.forEach((s, i) => {
        const p = r.pipelines[i];
        const entries = s.bindings.map((key, binding) => ({ binding, resource: { buffer: bufs.get(key)! } }));
        dispatch(this.device, p, this.device.createBindGroup({ layout: p.getBindGroupLayout(0), entries }), ...s.groups);
        this.k.count(`graph_${s.kind}`);
      });
    });
    for (const b of lent) this.k.pool.give(b);
    for (const b of slots) this.freeSlots.get(b.size)!.push(b);
    for (const t of uploaded) t.dispose();
    this.counts.ran.set(graph.name, (this.counts.ran.get(graph.name) ?? 0) + 1);
    return out;
  }

  /** The run's outputs: float32 ones in pool buffers (bound as out:NAME in `bufs`), int64 ones on the host. */
  private outputs(plan: GraphPlan, feeds: Record<string, Tensor>, bufs: Map<string, GPUBuffer>): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const o of plan.outputs) {
      out[o.name] = this.k.output(o.dims);
      bufs.set(`out:${o.name}`, out[o.name].gpuBuffer);
    }
    for (const o of plan.hostOutputs) {
      const data = Array.isArray(o.data) ? BigInt64Array.from(o.data, BigInt) : (feeds[o.data.root].data as BigInt64Array);
      out[o.name] = new this.ort.Tensor('int64', data, o.dims);
    }
    return out;
  }
}

/**
 * The plan's index inputs as i32, or null when one is not what the plan assumes: not on the
 * host, negative, or repeated where a scatter needs its rows distinct.
 */
function indexLists(plan: GraphPlan, feeds: Record<string, Tensor>): Map<string, Int32Array> | null {
  const lists = new Map<string, Int32Array>();
  for (const [root, { distinct }] of plan.indices) {
    const t = feeds[root];
    if (t.location !== 'cpu') return null;
    const src = t.data as BigInt64Array | Int32Array;
    const ints = new Int32Array(src.length);
    if (src instanceof BigInt64Array) {
      // Each value's low word; a value past ±2³¹ (its high word not the low word's sign) is not a row.
      const words = new Int32Array(src.buffer, src.byteOffset, src.length * 2);
      for (let i = 0; i < src.length; i++) {
        ints[i] = words[2 * i];
        if (words[2 * i + 1] !== (ints[i] < 0 ? -1 : 0)) return null;
      }
    } else ints.set(src);
    if (ints.some((v) => v < 0)) return null;
    if (distinct && new Set(ints).size !== ints.length) return null;
    lists.set(root, ints);
  }
  return lists;
}

// The one place that talks to onnxruntime. The engine hands it graphs and tensors; it
// compiles each graph once (sessions are shape-generic: symbolic batch and token dims),
// runs it, and keeps outputs where the provider computes them (GPU buffers under WebGPU).
import type * as ortTypes from 'onnxruntime-common';
import { DTYPE_BYTES, graphKey, type DType, type Graph } from '../graph/ir';
import { toOnnx } from '../graph/onnx';
import { GraphBuilder } from '../graph/builder';
import { MemoryAccountant, tensorBytes, type ByKind } from '../memory/accountant';
import { bindDims, plannedPeakBytes, resolvedDims } from '../memory/plan';
import { BufferPool } from './kernels/pool';
import { GpuKernels } from './kernels/kernels';
import { installStream } from './kernels/stream';
import { GraphRunner } from './kernels/graph-run';

/** The accountant's figures at one moment (taken at the end of each session run, when its transient is live). */
export interface MemorySample {
  /** Milliseconds since the runtime was created. */
  t: number;
  /** The graph that just ran. */
  phase: string;
  bytes: ByKind;
  /** What the device reports (GPU buffers alive, WASM heap, process RSS), when a probe is set. */
  device?: number;
  /** Bytes disk offload keeps in its store then (files, not memory); absent in samples of older runs. */
  stored?: number;
}

export type Ort = typeof ortTypes;
export type Tensor = ortTypes.Tensor;
/** wasm and webgpu: onnxruntime-web; cpu: onnxruntime-node's native CPU provider. */
export type Provider = 'wasm' | 'webgpu' | 'cpu';
export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

const ARRAYS: Partial<Record<DType, new (b: ArrayBuffer, o: number, n: number) => TensorData>> = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array, bool: Uint8Array,
};

/** Typed data of a tensor's type over bytes read back (copied when misaligned). */
export function typedOf(type: DType, bytes: Uint8Array): TensorData {
  const Ctor = ARRAYS[type];
  if (!Ctor) throw new Error(`no array type for ${type}`);
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  return new Ctor(aligned.buffer as ArrayBuffer, aligned.byteOffset, bytes.byteLength / DTYPE_BYTES[type]);
}

export interface RuntimeOptions {
  provider: Provider;
  /** Intra-op threads for onnxruntime-node (WASM takes its count from ort.env). */
  threads?: number;
  /** Logs each session's compile time and run count when set. */
  log?: (line: string) => void;
  /** Reads the device's own memory figure (GPU buffers, WASM heap, RSS). */
  probe?: () => number;
  /**
   * Bytes one transient tensor of a segmented run (attention by query segments, the LM head by
   * token segments) may take. Unset: WEBGPU_TRANSIENT_BUDGET under WebGPU, the trainer's default
   * (16 MiB) otherwise. Larger budgets mean fewer, larger session runs: on a GPU, where each run
   * costs more to start than to compute, that is most of a step's time.
   */
  transientBudget?: number;
  /**
   * onnxruntime's log severity for each session (0 verbose … 4 fatal; its default 2). At 0 it
   * lists the nodes it placed on another provider than the one asked for.
   */
  sessionLogLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * Under WebGPU, run attention and AdamW with the engine's own WGSL kernels on onnxruntime's
   * device (default true); false keeps every step in onnxruntime's graphs.
   */
  kernels?: boolean;
  /**
   * The most bytes one buffer on the device may take (a stored weight, a storage binding). Unset:
   * under WebGPU, the least of onnxruntime's device's maxStorageBufferBindingSize and
   * maxBufferSize; no limit elsewhere. A smaller figure (tests) makes the engine keep within it there too.
   */
  maxBufferBytes?: number;
  /**
   * Under WebGPU, the most bytes of GPU buffers kept free for reuse (onnxruntime's outputs, the
   * engine's kernels' buffers): default WEBGPU_POOL_BYTES; 0 makes and frees each buffer.
   */
  bufferPoolBytes?: number;
  /**
   * Under WebGPU, run the graphs the engine's planner handles (kernels/graph-plan.ts: element-wise
   * ops fused, shape ops as views, its own matrix products) with its own WGSL kernels instead of
   * onnxruntime's; the others still in onnxruntime. Default true (with `kernels`); false keeps
   * every graph in onnxruntime.
   */
  ownGraphs?: boolean;
  /** onnxruntime's WebGPU provider options (validationMode, buffer cache modes: benchmarks). */
  webgpu?: Record<string, unknown>;
}

interface SessionEntry {
  /** onnxruntime's session, made the first time the graph runs there (null until then). */
  session: Promise<ortTypes.InferenceSession> | null;
  /** Makes (once) and gives the session. */
  open(): Promise<ortTypes.InferenceSession>;
  runs: number;
  name: string;
  /** Planned transient bytes by bound dims. */
  planned: Map<string, number>;
}

/**
 * The WebGPU provider's transient budget: few session runs, and no tensor above 128 MiB, which is
 * both WebGPU's default largest storage binding and about the largest buffer onnxruntime-web keeps
 * for reuse (its cache stops at 160 MiB; a larger buffer is created and destroyed in every run,
 * which on an H200 made a 4096-token step 7× slower than at this budget; bench/RESULTS.md).
 */
export const WEBGPU_TRANSIENT_BUDGET = 128 * 2 ** 20;

/** Outputs smaller than this stay onnxruntime's own (see Runtime.pooledOutputs). */
const POOLED_OUTPUT_BYTES = 64 * 1024;

/** GPU buffers kept free for reuse under WebGPU (a layer's outputs at a few thousand tokens). */
export const WEBGPU_POOL_BYTES = 512 * 2 ** 20;

/** The largest storage binding every WebGPU device offers (its default limit), until the device's own is read. */
export const WEBGPU_DEFAULT_BUFFER_LIMIT = 128 * 2 ** 20;

const ORT_TYPE: Record<DType, ortTypes.Tensor.Type> = {
  float32: 'float32', float64: 'float64', float16: 'float16', int64: 'int64', int32: 'int32', bool: 'bool',
};

export class Runtime {
  private sessions = new Map<string, SessionEntry>();
  readonly provider: Provider;
  /** Milliseconds spent per graph name inside session.run, for profiling. */
  readonly runTime = new Map<string, number>();
  readonly memory = new MemoryAccountant();
  /** Called with a sample after every run; the session decides what to keep. */
  onSample: ((s: MemorySample) => void) | null = null;
  private readonly born = performance.now();

  /** See RuntimeOptions.transientBudget; read by the trainer when it sizes segments. */
  transientBudget: number | undefined;

  constructor(readonly ort: Ort, private opts: RuntimeOptions) {
    this.provider = opts.provider;
    this.transientBudget = opts.transientBudget ?? (opts.provider === 'webgpu' ? WEBGPU_TRANSIENT_BUDGET : undefined);
    // Our kernels join onnxruntime's command stream: the stream is watched from its first encoder.
    this.useKernels = opts.provider === 'webgpu' && opts.kernels !== false && installStream();
  }

  private readonly useKernels: boolean;
  private kernelsReady: Promise<GpuKernels | null> | undefined;
  private gpuKernels: GpuKernels | null = null;

  /** Dispatches of the engine's kernels so far, by kernel (empty when none ran). */
  get kernelRuns(): Record<string, number> {
    return { ...(this.gpuKernels?.runs ?? {}) };
  }

  /** The kernels' dispatches since `before` (an earlier `kernelRuns`), the kernels that ran only. */
  kernelRunsSince(before: Record<string, number>): Record<string, number> {
    return Object.fromEntries(Object.entries(this.kernelRuns).map(([k, n]) => [k, n - (before[k] ?? 0)]).filter(([, n]) => (n as number) > 0));
  }

  /**
   * The engine's WGSL kernels on onnxruntime's GPU device, or null (WASM, kernels turned off, or
   * no device to share). Asked for after a session has run, when the device exists.
   */
  kernels(): Promise<GpuKernels | null> {
    if (!this.useKernels) return Promise.resolve(null);
    this.kernelsReady ??= this.makeKernels();
    return this.kernelsReady;
  }

  private deviceReady: Promise<GPUDevice | undefined> | undefined;
  /** The device's own buffer limit, once read (readBufferLimit). */
  private deviceLimit: number | null = null;

  /** onnxruntime's GPU device (undefined without one), made by its first session. */
  private gpuDevice(): Promise<GPUDevice | undefined> {
    this.deviceReady ??= (async () => {
      this.dispose(await this.uploadByRun(this.tensor('float32', Float32Array.of(0), [1])));
      return (await (this.ort.env.webgpu as { device?: Promise<GPUDevice> | GPUDevice }).device) as GPUDevice | undefined;
    })();
    return this.deviceReady;
  }

  /**
   * The most bytes one device buffer may take: RuntimeOptions.maxBufferBytes, and under WebGPU the
   * device's limits (WebGPU's default until readBufferLimit() has read them); Infinity elsewhere.
   */
  get bufferLimit(): number {
    const device = this.onDevice ? (this.deviceLimit ?? WEBGPU_DEFAULT_BUFFER_LIMIT) : Infinity;
    return Math.min(this.opts.maxBufferBytes ?? Infinity, device);
  }

  /** Reads the device's buffer limits (under WebGPU, making onnxruntime's device if none is yet), then bufferLimit. */
  async readBufferLimit(): Promise<number> {
    if (this.onDevice && this.deviceLimit === null) {
      const limits = (await this.gpuDevice())?.limits;
      this.deviceLimit = limits ? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) : WEBGPU_DEFAULT_BUFFER_LIMIT;
    }
    return this.bufferLimit;
  }

  private async makeKernels(): Promise<GpuKernels | null> {
    const device = await this.gpuDevice();
    if (!device) return null;
    // Reading a one-value tensor of onnxruntime's makes it submit what it has recorded.
    this.gpuKernels = new GpuKernels(device, this.ort, async () => {
      const probe = await this.uploadByRun(this.tensor('float32', Float32Array.of(0), [1]));
      await probe.getData();
      probe.dispose();
    }, new BufferPool(device, this.opts.bufferPoolBytes ?? WEBGPU_POOL_BYTES));
    return this.gpuKernels;
  }

  get onDevice(): boolean {
    return this.provider === 'webgpu';
  }

  private entry(graph: Graph): SessionEntry {
    const key = graphKey(graph);
    let e = this.sessions.get(key);
    if (!e) {
      // The session is made when the graph first runs in onnxruntime: a graph the engine's own
      // kernels run is never serialised or compiled there.
      const create = () => {
        const bytes = toOnnx(graph);
        const started = Date.now();
        return this.ort.InferenceSession.create(bytes, {
          executionProviders: [this.provider === 'webgpu' && this.opts.webgpu ? { name: 'webgpu', ...this.opts.webgpu } : this.provider],
          graphOptimizationLevel: 'all',
          ...(this.provider === 'cpu' && this.opts.threads ? { intraOpNumThreads: this.opts.threads } : {}),
          preferredOutputLocation: this.onDevice ? outputLocations(graph) : 'cpu',
          ...(this.opts.sessionLogLevel !== undefined ? { logSeverityLevel: this.opts.sessionLogLevel, logVerbosityLevel: 0 } : {}),
        }).then((s) => {
          this.opts.log?.(`session ${graph.name}: ${bytes.length} bytes, ${Date.now() - started} ms to create`);
          return s;
        });
      };
      const entry: SessionEntry = { session: null, open: () => (entry.session ??= create()), runs: 0, name: graph.name, planned: new Map() };
      e = entry;
      this.sessions.set(key, e);
    }
    return e;
  }

  /** Runs a graph. Feeds are matched by input name; every output is returned. */
  async run(graph: Graph, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const e = this.entry(graph);
    const inputs: Record<string, Tensor> = {};
    for (const i of graph.inputs) {
      const t = feeds[i.name];
      if (!t) throw new Error(`${graph.name}: input ${i.name} was not given`);
      inputs[i.name] = t;
    }
    const env = bindDims(graph, inputs);
    const planKey = [...env.entries()].join(';');
    let transient = e.planned.get(planKey);
    if (transient === undefined) {
      transient = plannedPeakBytes(graph, env);
      e.planned.set(planKey, transient);
    }
    this.memory.setTransient(transient);
    const t0 = performance.now();
    const runner = this.opts.ownGraphs !== false && this.useKernels && !uploads.has(graph) ? await this.graphRunner() : null;
    let out = runner ? await runner.run(graph, inputs) : null;
    if (!out) {
      const session = await e.open();
      const fetches = this.pooledOutputs(graph, env);
      out = fetches ? await this.runInto(session, inputs, fetches) : ((await session.run(inputs)) as Record<string, Tensor>);
    }
    this.runTime.set(graph.name, (this.runTime.get(graph.name) ?? 0) + performance.now() - t0);
    e.runs++;
    this.onSample?.({ t: performance.now() - this.born, phase: graph.name, bytes: { ...this.memory.live }, device: this.opts.probe?.(), stored: this.memory.stored });
    this.memory.setTransient(0);
    return out as Record<string, Tensor>;
  }

  private runner: Promise<GraphRunner | null> | undefined;
  /** The engine's own graph runner on onnxruntime's device (null without the kernels). */
  graphRunner(): Promise<GraphRunner | null> {
    this.runner ??= this.kernels().then((k) => (k ? new GraphRunner(k, this.ort) : null));
    return this.runner;
  }

  /** The GPU buffer pool's counts (buffers made, buffers reused) and bytes kept free; null without one. */
  poolStats(): { made: number; reused: number; keptBytes: number } | null {
    const p = this.gpuKernels?.pool;
    return p ? { ...p.counts, keptBytes: p.keptBytes } : null;
  }

  /**
   * Under WebGPU, the run's float32 outputs in buffers of the engine's pool, given as fetches
   * (onnxruntime writes into them): null when there is no pool. onnxruntime makes the outputs
   * whose dims the fed shapes do not settle, and the small ones (a loss, a norm: reading one of
   * its own tensors costs one wait for the GPU, reading one of the pool's two).
   */
  private pooledOutputs(graph: Graph, env: Map<string, number>): Record<string, Tensor | null> | null {
    const k = this.gpuKernels;
    // An upload's output stays onnxruntime's: reading one back is how the kernels make it submit.
    if (!k || this.opts.bufferPoolBytes === 0 || uploads.has(graph)) return null;
    // Every output named: null ones onnxruntime makes (a run returns only the outputs it is asked for).
    const fetches: Record<string, Tensor | null> = {};
    let pooled = 0;
    for (const o of graph.outputs) {
      const dims = o.dtype === 'float32' ? resolvedDims(graph, o.name, env) : null;
      const use = dims !== null && dims.reduce((a, b) => a * b, 4) >= POOLED_OUTPUT_BYTES;
      fetches[o.name] = use ? k.output(dims) : null;
      if (use) pooled++;
    }
    return pooled ? fetches : null;
  }

  /** A run writing into the given outputs: those are returned as given, the others as onnxruntime made them. */
  private async runInto(session: ortTypes.InferenceSession, inputs: Record<string, Tensor>, fetches: Record<string, Tensor | null>): Promise<Record<string, Tensor>> {
    let out: Record<string, Tensor>;
    try {
      out = (await session.run(inputs, fetches as ortTypes.InferenceSession.FetchesType)) as Record<string, Tensor>;
    } catch (e) {
      // The lent buffers go back to the pool with the failed run.
      for (const t of Object.values(fetches)) t?.dispose();
      throw e;
    }
    for (const [name, t] of Object.entries(fetches)) if (t) out[name] = t;
    return out;
  }

  tensor(dtype: DType, data: TensorData, dims: readonly number[]): Tensor {
    return new this.ort.Tensor(ORT_TYPE[dtype], data as never, dims);
  }

  /** A tensor on the provider's device: under WebGPU, a GPU buffer filled once. */
  async upload(t: Tensor): Promise<Tensor> {
    if (!this.onDevice || t.location === 'gpu-buffer') return t;
    // float32 data goes into a buffer of the kernels' pool through the queue: a session run of
    // an identity graph per upload cost milliseconds of host time each (a sparse layer's rotary
    // tables, the adapter's factors at the start of a run).
    const kernels = t.type === 'float32' ? await this.kernels() : null;
    return kernels ? kernels.upload(t.data as Float32Array, [...t.dims]) : this.uploadByRun(t);
  }

  /** An upload through onnxruntime: a run of the identity graph (its output is onnxruntime's, so reading it makes onnxruntime submit). */
  private async uploadByRun(t: Tensor): Promise<Tensor> {
    const out = await this.run(identityGraph(t.type as DType, t.dims.length), { x: t });
    return out.y;
  }

  async read(t: Tensor): Promise<TensorData> {
    if (t.location === 'gpu-buffer') this.downloaded.add(t);
    return (await t.getData()) as TensorData;
  }

  /**
   * The tensors' data on the host: under WebGPU those in GPU buffers in one read back (the
   * engine's kernels copy them into one staging buffer: one wait for the GPU's queue, where
   * onnxruntime's reads wait once each), the others as they are.
   */
  async readAll(ts: Tensor[]): Promise<TensorData[]> {
    const kernels = this.onDevice ? await this.kernels() : null;
    const onGpu = kernels ? ts.filter((t) => t.location === 'gpu-buffer') : [];
    const bytes = onGpu.map(tensorBytes);
    const read = onGpu.length ? await kernels!.readTensors(onGpu, bytes) : [];
    const byTensor = new Map(onGpu.map((t, i) => [t, typedOf(t.type as DType, new Uint8Array(read[i]))]));
    // One at a time: concurrent reads of onnxruntime's tensors did not finish in Chromium.
    const out: TensorData[] = [];
    for (const t of ts) out.push(byTensor.get(t) ?? (await this.read(t)));
    return out;
  }

  async readScalar(t: Tensor): Promise<number> {
    const d = await this.read(t);
    return Number(d[0]);
  }

  /**
   * Tensors read back from the GPU: onnxruntime then calls them CPU tensors, but their GPU buffers
   * stay allocated until the tensor is disposed.
   */
  private readonly downloaded = new WeakSet<Tensor>();

  /** Frees a tensor the engine no longer holds (and stops accounting for it). */
  dispose(t: Tensor | undefined): void {
    if (!t) return;
    this.memory.release(t);
    if (t.location === 'gpu-buffer' || this.downloaded.has(t)) t.dispose();
  }

  async release(): Promise<void> {
    for (const e of this.sessions.values()) if (e.session) await (await e.session).release();
    this.sessions.clear();
    (await this.runner)?.clear();
    this.gpuKernels?.pool.clear();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }
}

/**
 * Under WebGPU, float outputs stay in GPU buffers; int64 outputs (shapes a forward hands its
 * backward, index lists) stay on the host, where the operators that read them (Expand, Reshape)
 * want them: on the GPU, each such input cost a read back that waited for the whole GPU queue.
 */
function outputLocations(graph: Graph): Record<string, 'cpu' | 'gpu-buffer'> {
  return Object.fromEntries(graph.outputs.map((o) => [o.name, o.dtype === 'int64' ? 'cpu' : 'gpu-buffer']));
}

const identities = new Map<string, Graph>();
/** The upload graphs (identities), whose outputs stay onnxruntime's. */
const uploads = new WeakSet<Graph>();
function identityGraph(dtype: DType, rank: number): Graph {
  const key = `${dtype}:${rank}`;
  let g = identities.get(key);
  if (!g) {
    const b = new GraphBuilder(`upload_${dtype}_${rank}`);
    const x = b.input('x', dtype, Array.from({ length: rank }, (_, i) => `d${i}`));
    b.output(b.op1('Identity', [x]), 'y');
    g = b.build();
    identities.set(key, g);
    uploads.add(g);
  }
  return g;
}

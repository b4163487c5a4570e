/// <reference types="@webgpu/types" />
// The engine's own WGSL kernels on onnxruntime's GPU device: flash-style causal attention over
// the rows a layer keeps (forward and backward, read in place: no gather of kept rows into a
// packed copy and no scatter back), AdamW in place, the oracle's block scores, and the widening
// of 2-byte frozen weights (bf16, f16) into a float32 tensor just before a graph reads them. They take and
// give onnxruntime tensors whose data are GPU buffers, so nothing leaves the GPU between them and
// the sessions; their dispatches join onnxruntime's command stream (stream.ts).
import type * as ortTypes from 'onnxruntime-common';
import { adamwWgsl, backwardKeyWgsl, blockScoresWgsl, backwardQueryWgsl, forwardWgsl, mergeWgsl, ROWS, statsWgsl, sumPartsWgsl } from './attention-wgsl';
import { alignedSize, BufferPool } from './pool';
import { dispatch, pending, readBack, readBackMany, release } from './stream';
import { widenWgsl } from './widen-wgsl';

type Ort = typeof ortTypes;
type Tensor = ortTypes.Tensor;

/** Shapes of one attention call: q (B, H, N, D), k and v (B, KV, N, D). */
export interface AttentionShape {
  B: number;
  H: number;
  KV: number;
  N: number;
  D: number;
  /** Shifted sparse attention's group size, or 0 for full causal attention. */
  group: number;
}

/** The hyperparameters of one AdamW step (bias corrections for the step's count). */
export interface AdamWStep {
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; bc1: number; bc2: number;
}

export { ROWS as KERNEL_ROWS };

export function attentionShape(q: Tensor, k: Tensor, group: number | null): AttentionShape {
  const [B, H, N, D] = q.dims;
  return { B, H, KV: k.dims[1], N, D, group: group ?? 0 };
}

const STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
const UNIFORM = 0x40; // UNIFORM
const COPY_DST = 0x08;
/** Bytes the chunks' parts of one output may take together (the forward's o, the backward's dq, dk and dv). */
const CHUNK_SCRATCH = 64 * 2 ** 20;

export class GpuKernels {
  private pipelines = new Map<string, GPUComputePipeline>();
  /** Dispatches so far by kernel (attn_fwd, attn_merge, attn_stats, attn_dq, attn_dk, attn_dv, attn_dkv, attn_sum, adamw, block_scores, widen_half). */
  readonly runs: Record<string, number> = {};
  /** Keys per tile in workgroup memory, as the device's limit allows (8 to 32). */
  private readonly tile: (D: number) => number;

  /**
   * `flush` makes onnxruntime submit the commands it has recorded (a read of one of its tensors);
   * `pool` lends the buffers of outputs, scratch values and uniforms.
   */
  constructor(readonly device: GPUDevice, private readonly ort: Ort, private readonly flush: () => Promise<void>, readonly pool: BufferPool) {
    this.tile = (D) => [32, 16, 8].find((t) => this.tileFits(t, D)) ?? 4;
  }

  /** Whether a tile of t rows of D floats (two of them, with each row's stats) fits in workgroup memory. */
  private tileFits(t: number, D: number): boolean {
    return 2 * t * D * 4 + 16 * t <= this.device.limits.maxComputeWorkgroupStorageSize;
  }

  /** Whether these kernels run attention of this head size. */
  supports(D: number): boolean {
    return D % 4 === 0 && D <= 256 && this.tileFits(this.tile(D), D);
  }

  private pipeline(key: string, code: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module: this.device.createShaderModule({ code: code(), label: key }), entryPoint: 'main' }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** A buffer of the pool written through the queue (uniforms, row lists), given back with its call's buffers. */
  private constant(data: ArrayBuffer, usage: number): GPUBuffer {
    const b = this.pool.take(alignedSize(data.byteLength), usage | COPY_DST);
    this.device.queue.writeBuffer(b, 0, data, 0, data.byteLength);
    return b;
  }

  /** A buffer for one call's intermediate values, given back with its inputs. */
  private scratch(bytes: number): GPUBuffer {
    return this.pool.take(alignedSize(bytes), STORAGE);
  }

  /** Gives a call's constants and scratch buffers back to the pool. */
  private give(...bs: GPUBuffer[]): void {
    for (const b of bs) this.pool.give(b);
  }

  /**
   * A float32 tensor in a buffer of the pool, given back with the tensor: the kernels' outputs,
   * and the outputs onnxruntime writes a run's results into (Runtime.pooledOutputs).
   */
  output(dims: number[]): Tensor {
    const buffer = this.pool.take(alignedSize(dims.reduce((a, b) => a * b, 1) * 4), STORAGE);
    let alive = true;
    return this.ort.Tensor.fromGpuBuffer(buffer, {
      dataType: 'float32', dims,
      dispose: () => {
        if (alive) this.pool.give(buffer);
        alive = false;
      },
      download: async () => new Float32Array(await this.read(buffer, dims.reduce((a, b) => a * b, 1) * 4)),
    });
  }

  /**
   * A float32 tensor of the pool's holding `data`, written through the queue: the write lands
   * before every command submitted after it, and the pool lends a buffer only once the commands
   * that last used it were submitted.
   */
  upload(data: Float32Array, dims: number[]): Tensor {
    const t = this.output(dims);
    if (data.byteLength > 0) this.device.queue.writeBuffer(t.gpuBuffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return t;
  }

  private async read(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    // onnxruntime submits what it has recorded only when one of its tensors is read: a wait more,
    // needed only while it has commands open (the engine's graph runs submit their own).
    if (pending()) await this.flush();
    return readBack(this.device, buffer, Math.max(4, Math.ceil(bytes / 4) * 4));
  }

  /** Counts one dispatch of the named kernel. */
  count(name: string): void {
    this.runs[name] = (this.runs[name] ?? 0) + 1;
  }

  private run(pipeline: GPUComputePipeline, buffers: (GPUBuffer | undefined)[], groups: [number, number, number]): void {
    this.count(pipeline.label.split('_').slice(0, 2).join('_'));
    const entries: GPUBindGroupEntry[] = [];
    buffers.forEach((buffer, binding) => buffer && entries.push({ binding, resource: { buffer } }));
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    dispatch(this.device, pipeline, bindGroup, ...groups);
  }

  /** Uniforms of the attention kernels and the rows' positions then each query tile's first key row. */
  /**
   * How many chunks the other side's rows are cut into: enough threads for a large GPU at short
   * contexts (one chunk per 1,024 rows, at most 8), the parts of all chunks of one output within CHUNK_SCRATCH bytes.
   */
  static chunks(s: AttentionShape): number {
    const part = s.B * s.H * s.N * s.D * 4;
    return Math.max(1, Math.min(8, Math.ceil(s.N / 1024), Math.floor(CHUNK_SCRATCH / part)));
  }

  private attentionInputs(s: AttentionShape, positions: ArrayLike<number>, starts: ArrayLike<number> | null, chunks: number, tile: number): [GPUBuffer, GPUBuffer] {
    const params = new ArrayBuffer(32);
    const chunkLen = Math.ceil(Math.ceil(s.N / chunks) / tile) * tile;
    new Uint32Array(params, 0, 5).set([s.N, s.H, s.KV, chunkLen, chunks]);
    new Float32Array(params, 20, 2).set([s.group, 1 / Math.sqrt(s.D)]);
    const tiles = Math.ceil(s.N / ROWS);
    const meta = new Uint32Array(s.N + tiles);
    meta.set(Array.from(positions), 0);
    if (starts) meta.set(Array.from(starts), s.N);
    return [this.constant(params, UNIFORM), this.constant(meta.buffer, STORAGE)];
  }

  /** Sums chunk parts (B, chunks, H, N, D) over chunks and each key-value head's query heads into `out` (B, KV, N, D). */
  private sumParts(s: AttentionShape, kvHeads: number, chunks: number, part: GPUBuffer, out: GPUBuffer): void {
    const total = s.B * kvHeads * s.N * (s.D / 4);
    const up = this.constant(new Uint32Array([s.N, s.H, kvHeads, chunks, total, 0, 0, 0]).buffer, UNIFORM);
    this.run(this.pipeline(`attn_sum_${s.D}`, () => sumPartsWgsl(s.D)), [up, part, out], grid(total));
    this.give(up);
  }

  /**
   * Causal attention of q over k, v (rows in ascending positions); `starts`: each query tile's
   * first visible key row under shifted sparse attention (null: 0). Returns o and each row's log-sum-exp.
   */
  attentionForward(q: Tensor, k: Tensor, v: Tensor, s: AttentionShape, positions: ArrayLike<number>, starts: ArrayLike<number> | null): { o: Tensor; lse: Tensor } {
    const o = this.output([s.B, s.H, s.N, s.D]);
    const lse = this.output([s.B, s.H, s.N]);
    const tile = this.tile(s.D);
    const chunks = GpuKernels.chunks(s);
    const [params, meta] = this.attentionInputs(s, positions, starts, chunks, tile);
    const p = this.pipeline(`attn_fwd_${s.D}_${tile}`, () => forwardWgsl(s.D, tile));
    const rows = s.B * s.H * s.N;
    const [po, pml] = chunks > 1 ? [this.scratch(rows * chunks * s.D * 4), this.scratch(rows * chunks * 8)] : [o.gpuBuffer, lse.gpuBuffer];
    this.run(p, [params, meta, q.gpuBuffer, k.gpuBuffer, v.gpuBuffer, po, pml], [Math.ceil(s.N / ROWS), s.H, s.B * chunks]);
    if (chunks > 1) {
      const up = this.constant(new Uint32Array([s.N, s.H, chunks, rows]).buffer, UNIFORM);
      this.run(this.pipeline(`attn_merge_${s.D}`, () => mergeWgsl(s.D)), [up, po, pml, o.gpuBuffer, lse.gpuBuffer], grid(rows));
      this.give(up, po, pml);
    }
    this.give(params, meta);
    return { o, lse };
  }

  /** The gradients of q, k and v from the output's gradient dO, recomputing scores by tiles. */
  attentionBackward(t: { q: Tensor; k: Tensor; v: Tensor; o: Tensor; lse: Tensor; dO: Tensor }, s: AttentionShape, positions: ArrayLike<number>, starts: ArrayLike<number> | null): { dq: Tensor; dk: Tensor; dv: Tensor } {
    const tile = this.tile(s.D);
    const chunks = GpuKernels.chunks(s);
    const [params, meta] = this.attentionInputs(s, positions, starts, chunks, tile);
    const rows = s.B * s.H * s.N;
    const stats = this.scratch(rows * 8);
    const sp = this.constant(new Uint32Array([rows, 0, 0, 0]).buffer, UNIFORM);
    this.run(this.pipeline(`attn_stats_${s.D}`, () => statsWgsl(s.D)), [sp, t.lse.gpuBuffer, t.o.gpuBuffer, t.dO.gpuBuffer, stats], grid(rows));
    const [dq, dk, dv] = [this.output([s.B, s.H, s.N, s.D]), this.output([s.B, s.KV, s.N, s.D]), this.output([s.B, s.KV, s.N, s.D])];
    const qk = [params, meta, t.q.gpuBuffer, t.k.gpuBuffer, t.v.gpuBuffer, stats, t.dO.gpuBuffer];
    const groups: [number, number, number] = [Math.ceil(s.N / ROWS), s.H, s.B * chunks];
    const pq = chunks > 1 ? this.scratch(rows * chunks * s.D * 4) : dq.gpuBuffer;
    this.run(this.pipeline(`attn_dq_${s.D}_${tile}`, () => backwardQueryWgsl(s.D, tile)), [...qk, pq], groups);
    if (chunks > 1) this.sumParts(s, s.H, chunks, pq, dq.gpuBuffer);
    // Key gradients per query head and chunk of queries (more threads), summed after; both at
    // once hold 4 rows of D floats per thread: split above D = 32.
    const direct = s.H === s.KV && chunks === 1;
    const [pk, pv] = direct ? [dk.gpuBuffer, dv.gpuBuffer] : [this.scratch(rows * chunks * s.D * 4), this.scratch(rows * chunks * s.D * 4)];
    for (const part of s.D <= 32 ? (['kv'] as const) : (['k', 'v'] as const)) {
      const p = this.pipeline(`attn_d${part}_${s.D}_${tile}`, () => backwardKeyWgsl(s.D, tile, part));
      this.run(p, [params, meta, t.q.gpuBuffer, t.k.gpuBuffer, part === 'v' ? undefined : t.v.gpuBuffer, stats, t.dO.gpuBuffer, part === 'v' ? undefined : pk, part === 'k' ? undefined : pv], groups);
    }
    if (!direct) {
      this.sumParts(s, s.KV, chunks, pk, dk.gpuBuffer);
      this.sumParts(s, s.KV, chunks, pv, dv.gpuBuffer);
      this.give(pk, pv);
    }
    this.give(params, meta, sp, stats, ...(chunks > 1 ? [pq] : []));
    return { dq, dk, dv };
  }

  /** Whether blockTiles takes blocks of this size (a power of two from 4 to 32) and this head size. */
  supportsBlocks(block: number, D: number): boolean {
    return [4, 8, 16, 32].includes(block) && D % 4 === 0 && block * D * 4 + block * block <= this.device.limits.maxComputeWorkgroupStorageSize;
  }

  /**
   * The oracle's b×b tile map of q (B, H, T, D) and k (B, KV, T, D) over positions 0..T-1, summed
   * over the batch: tiles[m·NB + n] for query block m ≥ key block n (read back: the host picks blocks).
   */
  async blockTiles(q: Tensor, k: Tensor, block: number): Promise<Float64Array> {
    const [B, H, T, D] = q.dims;
    const nb = Math.ceil(T / block);
    const params = new ArrayBuffer(32);
    new Uint32Array(params, 0, 4).set([T, H, k.dims[1], nb]);
    new Float32Array(params, 16, 1)[0] = 1 / Math.sqrt(D);
    const up = this.constant(params, UNIFORM);
    const out = this.scratch(B * nb * nb * 4);
    this.run(this.pipeline(`block_scores_${D}_${block}`, () => blockScoresWgsl(D, block)), [up, q.gpuBuffer, k.gpuBuffer, out], [nb, nb, B]);
    this.give(up);
    const data = new Float32Array(await this.read(out, B * nb * nb * 4));
    this.give(out);
    const tiles = new Float64Array(nb * nb);
    for (let b = 0; b < B; b++) for (let x = 0; x < nb * nb; x++) tiles[x] += data[b * nb * nb + x];
    return tiles;
  }

  /**
   * The bytes of several of onnxruntime's GPU tensors in one read back (one wait for the queue
   * instead of one each); `bytes[i]` is tensor i's size. The tensors stay on the GPU.
   */
  async readTensors(ts: Tensor[], bytes: number[]): Promise<ArrayBuffer[]> {
    if (pending()) await this.flush();
    const out = await readBackMany(this.device, ts.map((t, i) => ({ buffer: t.gpuBuffer, bytes: Math.ceil(bytes[i] / 4) * 4 })));
    return out.map((b, i) => (b.byteLength === bytes[i] ? b : b.slice(0, bytes[i])));
  }

  /** 2-byte values (their bits) in a storage buffer of their own, packed in pairs; destroyed by the caller. */
  halfBuffer(bits: Uint16Array): GPUBuffer {
    const packed = new Uint16Array(bits.length + (bits.length % 2));
    packed.set(bits);
    const b = this.device.createBuffer({ size: alignedSize(packed.byteLength), usage: STORAGE, mappedAtCreation: true });
    new Uint8Array(b.getMappedRange()).set(new Uint8Array(packed.buffer));
    b.unmap();
    return b;
  }

  /** Destroys a halfBuffer once the commands that read it are submitted. */
  freeBuffer(b: GPUBuffer): void {
    release(b);
  }

  /** A new float32 tensor of `dims` widened from a halfBuffer's bf16 or f16 values. */
  widen(src: GPUBuffer, kind: 'bf16' | 'f16', dims: number[]): Tensor {
    const n = dims.reduce((a, b) => a * b, 1);
    const out = this.output(dims);
    const groups = grid(n);
    const params = this.constant(new Uint32Array([n, kind === 'f16' ? 1 : 0, groups[0] * 256, 0]).buffer, UNIFORM);
    this.run(this.pipeline('widen_half', () => widenWgsl), [params, src, out.gpuBuffer], groups);
    this.give(params);
    return out;
  }

  /** One AdamW update of p, m and v in place from the gradient g (all float32 GPU tensors of equal size). */
  adamw(t: { p: Tensor; g: Tensor; m: Tensor; v: Tensor }, a: AdamWStep): void {
    const n = t.p.dims.reduce((x, y) => x * y, 1);
    const u = new ArrayBuffer(32);
    new Float32Array(u, 0, 7).set([a.lr, a.beta1, a.beta2, a.eps, a.weightDecay, a.bc1, a.bc2]);
    new Uint32Array(u, 28, 1)[0] = n;
    const params = this.constant(u, UNIFORM);
    this.run(this.pipeline('adamw', () => adamwWgsl), [params, t.g.gpuBuffer, t.p.gpuBuffer, t.m.gpuBuffer, t.v.gpuBuffer], grid(n));
    this.give(params);
  }
}

/** Workgroups of 256 threads for n items, as a 2D grid when n needs more than 65,535 in x. */
function grid(n: number): [number, number, number] {
  const groups = Math.ceil(n / 256);
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x), 1];
}

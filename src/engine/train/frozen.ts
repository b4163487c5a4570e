// The model's frozen weights on the runtime's device. float32 weights are tensors uploaded once.
// 2-byte weights (bfloat16, float16) stay 2 bytes a value: on the host under WASM and
// onnxruntime-node, in a GPU storage buffer under WebGPU; each is widened into a float32 tensor
// just before a graph reads it and released right after, counted as weights while it exists.
import type { HostTensor } from '../model/model';
import { widenHalf, type HalfKind } from '../model/safetensors';
import type { Runtime, Tensor } from '../runtime/runtime';
import type { GpuKernels } from '../runtime/kernels/kernels';

/** A 2-byte weight as the accountant sees it: its dims, 2 bytes a value. */
interface Half {
  kind: HalfKind;
  dims: number[];
  type: 'float16';
  host: Uint16Array;
  gpu: GPUBuffer | null;
}

export type Frozen = { f32: Tensor } | { half: Half };

/** Rows `rows` of a row-major host matrix (a lookup table), widened to float32. */
export function gatherRows(h: HostTensor, rows: ArrayLike<number>): Float32Array {
  const C = h.shape[1];
  const out = new Float32Array(rows.length * C);
  for (let i = 0; i < rows.length; i++) {
    const row = h.data.subarray(rows[i] * C, (rows[i] + 1) * C);
    if (h.half) widenHalf(row as Uint16Array, h.half, out, i * C);
    else out.set(row, i * C);
  }
  return out;
}

export class FrozenStore {
  private widened = new Set<Tensor>();

  constructor(private readonly rt: Runtime, private readonly kernels: GpuKernels | null) {}

  /** A host tensor on the device: float32 as a tensor, 2-byte bits as they are. */
  async put(h: HostTensor): Promise<Frozen> {
    if (!h.half) {
      const t = await this.rt.upload(this.rt.tensor('float32', h.data as Float32Array, h.shape));
      this.rt.memory.track(t, 'weights');
      return { f32: t };
    }
    const host = h.data as Uint16Array;
    const half: Half = { kind: h.half, dims: h.shape, type: 'float16', host, gpu: this.kernels?.halfBuffer(host) ?? null };
    this.rt.memory.track(half, 'weights');
    return { half };
  }

  /** The weight in float32: the stored tensor, or a widened copy that release() frees. */
  async widen(f: Frozen): Promise<Tensor> {
    if ('f32' in f) return f.f32;
    const { half } = f;
    if (half.gpu && this.kernels) return this.own(this.kernels.widen(half.gpu, half.kind, half.dims));
    return this.own(this.rt.tensor('float32', widenHalf(half.host, half.kind), half.dims));
  }

  /** A float32 tensor made from frozen weights, on the device and counted as weights until released. */
  async own(t: Tensor): Promise<Tensor> {
    const d = await this.rt.upload(t);
    this.rt.memory.track(d, 'weights');
    this.widened.add(d);
    return d;
  }

  /** Frees the widened copies among these tensors (stored weights are left alone). */
  release(ts: Iterable<Tensor | undefined>): void {
    for (const t of ts) if (t && this.widened.delete(t)) this.rt.dispose(t);
  }

  dispose(f: Frozen): void {
    if ('f32' in f) return this.rt.dispose(f.f32);
    this.rt.memory.release(f.half);
    if (f.half.gpu) this.kernels?.freeBuffer(f.half.gpu);
  }
}

// Offload of saved activations. Between a layer's forward and its backward, what the layer saved
// may leave the computing device: to host memory (read out of WebGPU's buffers), or to a store
// the shell provides (the CLI: files in a temporary folder; the studio: the browser's storage).
// The backward takes each layer back with the next one already on its way (layer l-1's copy is
// issued before layer l's backward runs), so the transfer overlaps compute. The copy out is awaited after each layer's forward
// (under WebGPU all of a layer's GPU buffers in one read back; on disk, the layer's files written),
// so at most two layers' saved activations are in memory at once with disk offload.
//
// Where saved activations live without offload: under WebGPU, in GPU buffers; under WASM and
// onnxruntime-node's CPU provider, in JavaScript typed arrays that onnxruntime copied out of its
// heap (a run's inputs are copied in for that run only). There, host offload moves the arrays
// out of the provider's tensors and into the "offloaded" kind without a copy; only disk offload
// frees memory.
import { OffloadFailed, UserError } from '../errors';
import { DTYPE_BYTES, type DType } from '../graph/ir';
import { tensorBytes } from '../memory/accountant';
import { alignedSize } from '../runtime/kernels/pool';
import type { OffloadMode } from '../settings';
import { typedOf, type Runtime, type Tensor, type TensorData } from '../runtime/runtime';
import { savedTensors, type LayerSaved, type PassTensors } from './pass';

/**
 * Bytes kept outside memory by key (the CLI: one file each in a temporary folder; the studio: in
 * the browser's origin-private file system). A failure the user can act on (the disk or the
 * browser's storage full) is a UserError whose sentence says what to change.
 */
export interface SpillStore {
  write(key: string, bytes: Uint8Array): Promise<void>;
  read(key: string): Promise<Uint8Array>;
  remove(key: string): Promise<void>;
}

export interface OffloadOptions {
  mode: OffloadMode;
  /** Where disk offload writes (required for 'disk'). */
  store?: SpillStore;
}

/** A saved tensor off the device: its bytes in host memory, or under a key of the store. */
class Parked {
  data: TensorData | null = null;
  written: Promise<void> | null = null;
  /** The prefetch: the tensor on the device again (accounted as activations once there). */
  ready: Promise<Tensor> | null = null;
  back: Tensor | null = null;
  /** `gpu`: it was in a GPU buffer (and goes back into one); the host's int64 shape tensors stay on the host. */
  constructor(readonly type: DType, readonly dims: readonly number[], readonly key: string | null, readonly gpu: boolean) {}
}

interface GpuDevice {
  createBuffer(d: { size: number; usage: number }): { destroy(): void };
  queue: { writeBuffer(b: unknown, offset: number, data: ArrayBufferView): void };
}

// GPUBufferUsage.STORAGE | COPY_SRC | COPY_DST: what onnxruntime's own buffers carry.
const GPU_USAGE = 0x80 | 0x04 | 0x08;

/**
 * Host data as a tensor in a GPU buffer of onnxruntime's device, written through the device's
 * queue (no session run, so it can be issued while another layer's runs are in flight).
 */
async function gpuTensor(rt: Runtime, type: DType, data: TensorData, dims: readonly number[]): Promise<Tensor> {
  const device = (await (rt.ort.env.webgpu as unknown as { device: Promise<GpuDevice> }).device) as GpuDevice;
  const size = alignedSize(data.byteLength);
  const buffer = device.createBuffer({ size, usage: GPU_USAGE });
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const padded = size === bytes.byteLength ? bytes : new Uint8Array(size);
  if (padded !== bytes) padded.set(bytes);
  device.queue.writeBuffer(buffer, 0, padded);
  const T = rt.ort.Tensor as unknown as { fromGpuBuffer(b: unknown, o: { dataType: string; dims: readonly number[]; dispose(): void }): Tensor };
  return T.fromGpuBuffer(buffer, { dataType: type, dims, dispose: () => buffer.destroy() });
}

/** A layer's saved tensors, some of them parked. */
interface ParkedLayer {
  saved: LayerSaved;
  slots: Map<Tensor, Parked>;
}

/** The same layer with each tensor replaced (the rows, the sparsity and the weights' slots as they are). */
function mapSaved(sv: LayerSaved, f: (t: Tensor) => Tensor): LayerSaved {
  const rec = (r: Record<string, Tensor>) => Object.fromEntries(Object.entries(r).map(([n, t]) => [n, f(t)]));
  const kernel = sv.o && sv.lse ? { o: f(sv.o), lse: f(sv.lse) } : {};
  return { rows: sv.rows, sparse: sv.sparse, pre: rec(sv.pre), post: rec(sv.post), q: f(sv.q), k: f(sv.k), v: f(sv.v), common: rec(sv.common), sharedRope: sv.sharedRope, ...kernel };
}

/** A failure of the store as the step reports it: its own sentence when it has one. */
function storeFailure(e: unknown): OffloadFailed {
  if (e instanceof OffloadFailed) return e;
  if (e instanceof UserError) return new OffloadFailed(e.message);
  return new OffloadFailed(`Offload to disk failed (${(e as Error)?.message ?? String(e)}); choose host or none for the offload.`);
}

/** A placeholder standing for a parked tensor in a layer's record until it comes back. */
const placeholder = (p: Parked) => p as unknown as Tensor;

/**
 * The saved layers of one training pass, in order: kept as they are (no offload) or parked off
 * the device after each forward and brought back, one layer ahead, for the backward.
 */
export class SavedLayers {
  private layers: (LayerSaved | ParkedLayer | null)[] = [];
  /** Store keys written and not yet removed, with their writes; the bytes of those written. */
  private writes = new Map<string, Promise<void>>();
  private stored = new Map<string, number>();
  private static passes = 0;
  private readonly pass = SavedLayers.passes++;

  constructor(private readonly rt: Runtime, private readonly tensors: PassTensors, private readonly opts: OffloadOptions) {
    if (opts.mode === 'disk' && !opts.store) throw new Error('offload: disk offload needs a store');
  }

  /** Keeps layer l's saved tensors; offloading parks those the pass produced, except `out` (the next layer's input). */
  async push(l: number, sv: LayerSaved, out: Tensor): Promise<void> {
    if (this.opts.mode === 'none') {
      this.layers[l] = sv;
      return;
    }
    const chosen = savedTensors(sv).map((t, i) => ({ t, key: `${this.pass}-${l}-${i}` })).filter(({ t }) => t !== out && this.tensors.owns(t));
    const data = await this.rt.readAll(chosen.map((c) => c.t));
    const slots = new Map<Tensor, Parked>(chosen.map(({ t, key }, i) => [t, this.park(t, data[i], key)]));
    this.layers[l] = { saved: mapSaved(sv, (t) => (slots.has(t) ? placeholder(slots.get(t)!) : t)), slots: new Map([...slots.values()].map((p) => [placeholder(p), p])) };
    // The layer's files written before the next layer runs: what waits on disk has left memory
    // (writes left in the background piled up in memory whenever the disk was slower than compute).
    await Promise.all(chosen.map((c) => this.writes.get(c.key)));
  }

  /** Keeps a tensor's data off the device (host memory, or the store) and frees it there. */
  private park(t: Tensor, data: TensorData, key: string): Parked {
    const p = new Parked(t.type as DType, [...t.dims], this.opts.mode === 'disk' ? key : null, t.location === 'gpu-buffer');
    this.tensors.free(t);
    if (p.key === null) {
      p.data = data;
      this.rt.memory.track(p, 'offloaded');
    } else {
      const written = this.write(p, p.key, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      // Awaited by push(), then by the read or discard().
      written.catch(() => undefined);
      this.writes.set(p.key, written);
    }
    return p;
  }

  /** Writes a parked tensor to the store: its bytes count as offloaded (in memory) until written, then as stored. */
  private async write(p: Parked, key: string, bytes: Uint8Array): Promise<void> {
    const memory = this.rt.memory;
    memory.track(p, 'offloaded');
    try {
      await this.opts.store!.write(key, bytes);
      this.stored.set(key, bytes.byteLength);
      memory.addStored(bytes.byteLength);
    } catch (e) {
      throw storeFailure(e);
    } finally {
      memory.release(p);
    }
  }

  /** Removes a key from the store (once written, its bytes no longer count as stored). */
  private async remove(key: string): Promise<void> {
    this.writes.delete(key);
    const bytes = this.stored.get(key);
    this.stored.delete(key);
    await this.opts.store!.remove(key);
    if (bytes !== undefined) this.rt.memory.addStored(-bytes);
  }

  /** Starts bringing layer l's parked tensors back (disk: reading them; WebGPU: writing them to new buffers). */
  prefetch(l: number): void {
    const layer = this.layers[l];
    if (!layer || !('slots' in layer)) return;
    for (const p of layer.slots.values()) {
      // Awaited by take() or discard(); a failure surfaces there, not as an unhandled rejection.
      p.ready ??= this.bringBack(p);
      p.ready.catch(() => undefined);
    }
  }

  private async bringBack(p: Parked): Promise<Tensor> {
    const data = p.data ?? (await this.read(p));
    const t = p.gpu ? await gpuTensor(this.rt, p.type, data, p.dims) : this.rt.tensor(p.type, data, p.dims);
    p.back = t;
    p.data = null;
    this.rt.memory.release(p);
    this.rt.memory.track(t, 'activations');
    return t;
  }

  private async read(p: Parked): Promise<TensorData> {
    try {
      await this.writes.get(p.key!);
      const data = typedOf(p.type, await this.opts.store!.read(p.key!));
      await this.remove(p.key!);
      return data;
    } catch (e) {
      throw storeFailure(e);
    }
  }

  /** Layer l's saved tensors on the device again, owned by the pass; layer l-1's are prefetched. */
  async take(l: number): Promise<LayerSaved> {
    const layer = this.layers[l];
    if (!layer) throw new Error(`offload: layer ${l} was not saved`);
    if (!('slots' in layer)) {
      this.layers[l] = null;
      return layer;
    }
    this.prefetch(l);
    if (l > 0) this.prefetch(l - 1);
    const back = new Map<Tensor, Tensor>();
    for (const [ph, p] of layer.slots) back.set(ph, await p.ready!);
    this.layers[l] = null;
    for (const t of back.values()) this.tensors.adopt(t);
    return mapSaved(layer.saved, (t) => back.get(t) ?? t);
  }

  /** Frees every layer still parked or on its way back, and removes what the store holds (after the backward, or a failure). */
  async discard(): Promise<void> {
    const parked = this.layers.flatMap((layer) => (layer && 'slots' in layer ? [...layer.slots.values()] : []));
    this.layers = [];
    await Promise.allSettled(parked.map((p) => p.ready));
    for (const p of parked) {
      this.rt.memory.release(p);
      this.rt.dispose(p.back ?? undefined);
    }
    for (const [key, written] of [...this.writes]) {
      await written.catch(() => undefined);
      await this.remove(key).catch(() => undefined);
    }
  }
}

/// <reference types="@webgpu/types" />
// GPU buffers kept for reuse by exact size and usage. On a GPU reached through Dawn, making a
// buffer and freeing it cost the host more than most kernels: a step made and freed about 1,800
// of them (onnxruntime's outputs, which its own cache keeps only a few of per size, and the
// engine's kernels' outputs and uniforms), and each layer asks for the same sizes again. A buffer
// given back is reusable only after the commands recorded so far are submitted (stream.ts), so a
// later write, by a kernel or by the queue, can never reach it before an earlier reader.
import { afterNextSubmit, release } from './stream';

/** A GPU buffer's size for `bytes`: a multiple of 16 (what onnxruntime's copies assume), at least 16. */
export function alignedSize(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private freeBytes = 0;
  /** Buffers made and buffers taken from the pool, since the start. */
  readonly counts = { made: 0, reused: 0 };

  /** `capBytes`: the most bytes kept free at once; past it, a given-back buffer is destroyed. */
  constructor(private readonly device: GPUDevice, private readonly capBytes: number) {}

  take(size: number, usage: number): GPUBuffer {
    const list = this.free.get(`${usage}:${size}`);
    const b = list?.pop();
    if (b) {
      this.freeBytes -= size;
      this.counts.reused++;
      return b;
    }
    this.counts.made++;
    return this.device.createBuffer({ size, usage });
  }

  /** Gives a buffer back once the commands recorded so far are submitted. */
  give(b: GPUBuffer): void {
    afterNextSubmit(() => this.keep(b));
  }

  private keep(b: GPUBuffer): void {
    if (this.freeBytes + b.size > this.capBytes) {
      release(b);
      return;
    }
    const key = `${b.usage}:${b.size}`;
    const list = this.free.get(key) ?? [];
    list.push(b);
    this.free.set(key, list);
    this.freeBytes += b.size;
  }

  /** Destroys every buffer kept free. */
  clear(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.freeBytes = 0;
  }

  get keptBytes(): number {
    return this.freeBytes;
  }
}

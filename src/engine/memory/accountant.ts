// The accountant: every tensor the engine holds is registered under a kind; live bytes and
// the peak of each kind (and of their sum) are kept, and sampled on request. `offloaded` is
// saved activations parked off the computing device in host memory until their backward (or
// until written, on their way to disk offload's store); what the store holds is no memory and
// is counted apart (`stored`).
import { DTYPE_BYTES } from '../graph/ir';
export const MEMORY_KINDS = ['weights', 'adapter', 'optimizer', 'gradients', 'activations', 'offloaded', 'transient'] as const;
export type MemoryKind = (typeof MEMORY_KINDS)[number];
export type ByKind = Record<MemoryKind, number>;

interface Sized {
  dims: readonly number[];
  type: string;
}

const ELEMENT: Record<string, number> = { ...DTYPE_BYTES, uint8: 1 };

export function tensorBytes(t: Sized): number {
  return t.dims.reduce((a, b) => a * b, 1) * (ELEMENT[t.type] ?? 4);
}

const zero = (): ByKind => ({ weights: 0, adapter: 0, optimizer: 0, gradients: 0, activations: 0, offloaded: 0, transient: 0 });

export class MemoryAccountant {
  private held = new Map<object, { kind: MemoryKind; bytes: number }>();
  readonly live: ByKind = zero();
  /** Peak of each kind on its own. */
  readonly peak: ByKind = zero();
  /** Peak of the sum, and how it was split at that moment. */
  peakTotal = 0;
  peakSplit: ByKind = zero();
  /** Bytes disk offload keeps in the shell's store (files, not memory): now, and at most. */
  stored = 0;
  peakStored = 0;

  track(t: Sized, kind: MemoryKind): void {
    if (this.held.has(t)) return;
    const bytes = tensorBytes(t);
    this.held.set(t, { kind, bytes });
    this.add(kind, bytes);
  }

  /** Moves a tracked tensor to another kind (a gradient that becomes nothing, say). */
  release(t: Sized | undefined): void {
    if (!t) return;
    const h = this.held.get(t);
    if (!h) return;
    this.held.delete(t);
    this.add(h.kind, -h.bytes);
  }

  /** Bytes written to (positive) or removed from (negative) disk offload's store. */
  addStored(bytes: number): void {
    this.stored += bytes;
    this.peakStored = Math.max(this.peakStored, this.stored);
  }

  /** ORT's working memory during a run: set before it, cleared after. */
  setTransient(bytes: number): void {
    this.add('transient', bytes - this.live.transient);
  }

  private add(kind: MemoryKind, bytes: number): void {
    this.live[kind] += bytes;
    if (this.live[kind] > this.peak[kind]) this.peak[kind] = this.live[kind];
    const total = this.total();
    if (total > this.peakTotal) {
      this.peakTotal = total;
      this.peakSplit = { ...this.live };
    }
  }

  total(): number {
    let s = 0;
    for (const k of MEMORY_KINDS) s += this.live[k];
    return s;
  }

  resetPeaks(): void {
    Object.assign(this.peak, this.live);
    this.peakTotal = this.total();
    this.peakSplit = { ...this.live };
    this.peakStored = this.stored;
  }
}

// The accountant's memory kinds, in stacking order, with one colour each used by every chart.
import { MEMORY_KINDS, type MemoryKind } from '../../engine/memory/accountant';

export { MEMORY_KINDS, type MemoryKind };

export const KIND_COLOR: Record<MemoryKind, string> = {
  weights: '#94a3b8',
  adapter: '#a855f7',
  optimizer: '#f59e0b',
  gradients: '#ec4899',
  activations: '#2563eb',
  offloaded: '#93c5fd',
  transient: '#14b8a6',
};

export const KIND_LABEL: Record<MemoryKind, string> = {
  weights: 'weights (frozen)',
  adapter: 'LoRA adapter',
  optimizer: 'optimizer state',
  gradients: 'gradients',
  activations: 'saved activations',
  offloaded: 'offloaded activations (host memory)',
  transient: 'transient (ORT)',
};

/** Saved activations in the browser's storage (disk offload): no memory, so not stacked with the kinds. */
export const STORED_LABEL = 'offloaded activations (browser storage, not memory)';

export const DEVICE_COLOR = '#111827';
export const BASELINE_COLOR = '#dc2626';

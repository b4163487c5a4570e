// What the shells hand a run besides its settings.
import type { Document } from '../train/data';
import type { SpillStore } from '../train/offload';
import type { Checkpoint } from './checkpoint';

/** Continuing from a checkpoint, and where new checkpoints go. */
export interface RunOptions {
  resume?: Checkpoint;
  /** Stores a checkpoint (every settings.checkpointEvery steps); the run waits for it. */
  onCheckpoint?: (bytes: Uint8Array, step: number) => Promise<void>;
  /** Where disk offload (settings.offload 'disk') keeps saved activations; the CLI's temporary folder. */
  spill?: SpillStore;
}

/** Held-out text the run evaluates on every `every` steps (and after its last step). */
export interface HeldOut {
  docs: Document[];
  every: number;
  /** Chunks of ctx tokens from the start of the documents, the same ones each time. */
  chunks: number;
}

export interface AdapterFiles {
  config: unknown;
  weights: Uint8Array;
}

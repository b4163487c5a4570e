// Disk offload in the studio: the engine's SpillStore over the origin-private file system (OPFS),
// from the engine worker. Each run writes into a folder of its own (lemo-offload-<random>), one
// file per key through synchronous access handles (a dedicated worker has them: no stream, no
// copy through the page), and the folder goes when the run ends, stops or fails. A run holds a
// Web Lock named after its folder while it goes, so a worker starting in another tab removes
// only the folders of runs that are gone (a crashed or closed tab's).
import { UserError, type SpillStore } from '../engine';

const PREFIX = 'lemo-offload-';

export const NO_OPFS =
  "This browser gives the page no origin-private file system (browser storage), so saved activations cannot be offloaded to disk here: choose host memory or none for Offload activations.";

export const STORAGE_FULL =
  "The browser's storage has no room left for the saved activations offloaded to disk: free browser storage (other sites' data, in the browser's settings), or choose host memory or none for Offload activations.";

const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

/** Why a run that keeps up to `needed` bytes in the browser's storage would not fit what it has free (null: it fits, or the browser does not say). */
export function roomRefusal(needed: number, estimate: { quota?: number; usage?: number }): string | null {
  if (estimate.quota === undefined) return null;
  const free = Math.max(0, estimate.quota - (estimate.usage ?? 0));
  if (needed <= free) return null;
  return `Offload to disk would keep up to about ${mb(needed)} of saved activations in this browser's storage, but only ${mb(free)} is free there: free browser storage (other sites' data, in the browser's settings), or choose host memory or none for Offload activations.`;
}

type Storage = { getDirectory?: () => Promise<FileSystemDirectoryHandle>; estimate?: () => Promise<{ quota?: number; usage?: number }> };

/** Whether this context can offload to OPFS: a root folder and synchronous access handles. */
export function hasOpfs(storage: Storage | undefined = (globalThis.navigator as Navigator | undefined)?.storage): boolean {
  const handle = (globalThis as { FileSystemFileHandle?: { prototype: object } }).FileSystemFileHandle;
  return !!storage?.getDirectory && !!handle && 'createSyncAccessHandle' in handle.prototype;
}

/** The refusal of a disk-offloaded run keeping up to `needed` bytes in OPFS here, or null. */
export async function spillRefusal(needed: number): Promise<string | null> {
  if (!hasOpfs()) return NO_OPFS;
  const estimate = await navigator.storage.estimate().catch(() => ({}));
  return roomRefusal(needed, estimate);
}

/** A quota error of the browser as the sentence above; other errors as they are. */
function named(e: unknown): unknown {
  return (e as DOMException)?.name === 'QuotaExceededError' ? new UserError(STORAGE_FULL) : e;
}

/**
 * A store of one file per key in `dir`, one operation at a time: with a layer's thirty-odd reads
 * and removals in flight at once, Chromium at times never settled one of the access handles asked
 * for (a step at 8,192 tokens hung in the backward's reads), and each operation is synchronous
 * work once its handle is open, so running them in turn costs little.
 */
export function folderStore(dir: FileSystemDirectoryHandle): SpillStore {
  const store = folderOps(dir);
  let last: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(op: () => Promise<T>): Promise<T> => {
    const next = last.then(op, op);
    last = next.catch(() => undefined);
    return next;
  };
  return {
    write: (key, bytes) => inTurn(() => store.write(key, bytes)),
    read: (key) => inTurn(() => store.read(key)),
    remove: (key) => inTurn(() => store.remove(key)),
  };
}

/** The file operations of a folder's store, each on its own. */
function folderOps(dir: FileSystemDirectoryHandle): SpillStore {
  return {
    async write(key, bytes) {
      try {
        const h = await (await dir.getFileHandle(key, { create: true })).createSyncAccessHandle();
        try {
          if (h.write(bytes, { at: 0 }) < bytes.byteLength) throw new DOMException('short write', 'QuotaExceededError');
        } finally {
          h.close();
        }
      } catch (e) {
        throw named(e);
      }
    },
    async read(key) {
      const h = await (await dir.getFileHandle(key)).createSyncAccessHandle();
      try {
        const out = new Uint8Array(h.getSize());
        h.read(out, { at: 0 });
        return out;
      } finally {
        h.close();
      }
    },
    remove: (key) => dir.removeEntry(key).catch((e: DOMException) => {
      if (e.name !== 'NotFoundError') throw e;
    }),
  };
}

/** Holds the Web Lock `name` until the returned function is called (nothing to hold where the browser has no Web Locks). */
async function hold(name: string): Promise<() => void> {
  const locks = navigator.locks;
  if (!locks) return () => {};
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await new Promise<void>((locked, failed) => {
    locks.request(name, () => {
      locked();
      return released;
    }).catch(failed);
  });
  return release;
}

/** Removes the offload folders of runs no longer going (a tab that crashed or closed mid-run). */
export async function removeStaleSpills(): Promise<void> {
  if (!hasOpfs() || !navigator.locks) return;
  const root = await navigator.storage.getDirectory();
  const names: string[] = [];
  for await (const [name, handle] of (root as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
    if (handle.kind === 'directory' && name.startsWith(PREFIX)) names.push(name);
  }
  if (names.length === 0) return;
  // Listed before the locks are asked for: a run takes its lock before it makes its folder.
  const held = new Set(((await navigator.locks.query()).held ?? []).map((l) => l.name));
  for (const name of names) if (!held.has(name)) await root.removeEntry(name, { recursive: true }).catch(() => {});
}

/** A run's offload folder: its store, and close() to remove it (after the run, whatever happened). */
export interface Spill {
  store: SpillStore;
  close(): Promise<void>;
}

/** Opens a run's offload folder, refused with a sentence where there is no OPFS or too little room for `needed` bytes. */
export async function openSpill(needed: number): Promise<Spill> {
  const refusal = await spillRefusal(needed);
  if (refusal) throw new UserError(refusal);
  await removeStaleSpills().catch(() => {});
  const root = await navigator.storage.getDirectory().catch(() => {
    throw new UserError(NO_OPFS);
  });
  const name = `${PREFIX}${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  const release = await hold(name);
  const dir = await root.getDirectoryHandle(name, { create: true }).catch((e: unknown) => {
    release();
    throw e;
  });
  return {
    store: folderStore(dir),
    async close() {
      await root.removeEntry(name, { recursive: true }).catch(() => {});
      release();
    },
  };
}

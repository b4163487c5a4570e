// --offload disk: saved activations wait for their backward in files of a temporary folder,
// which is removed when the command ends, also when it fails or exits.
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError, type SpillStore } from '../engine/node';

/** A store of one file per key in `dir`; a full disk is named with what to change. */
export function diskStore(dir: string): SpillStore {
  return {
    write: (key, bytes) => writeFile(join(dir, key), bytes).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOSPC' || e.code === 'EDQUOT') throw new UserError(`The disk of ${dir} is full: free space there (or set TMPDIR to a disk with room), or choose --offload host or none.`);
      throw e;
    }),
    read: async (key) => new Uint8Array(await readFile(join(dir, key))),
    remove: (key) => rm(join(dir, key), { force: true }),
  };
}

/** Runs `f` with a store in a fresh temporary folder (under TMPDIR), removed afterwards whatever happens. */
export async function withSpillDir<T>(f: (store: SpillStore, dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'lemo-offload-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', remove);
  try {
    return await f(diskStore(dir), dir);
  } finally {
    remove();
    process.off('exit', remove);
  }
}

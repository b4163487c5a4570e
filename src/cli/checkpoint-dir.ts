// A run's checkpoint folder on disk: checkpoint.safetensors (the engine's checkpoint, replaced
// whole by a rename so a crash mid-write leaves the previous one), run.json (the files the
// run read, so `lemo train --resume DIR` needs nothing else) and run.lock (the pid of the run
// writing there, so two runs never share the folder).
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeCheckpoint, UserError, type Checkpoint } from '../engine/node';
import { ensureDir, readBytes, readJson, writeFile } from './files';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const LOCK_FILE = 'run.lock';

/** What the run read: the dataset file, the model folder and its RoPE scaling. */
export interface RunFiles {
  data: string;
  model: string;
  ropeScale?: number;
}

export function readCheckpointDir(dir: string): { checkpoint: Checkpoint; files: RunFiles } {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) throw new UserError(`No checkpoint to resume from in ${dir} (${CHECKPOINT_FILE} is missing; one is written every --checkpoint-every steps).`);
  const checkpoint = decodeCheckpoint(readBytes(path, 'checkpoint'), path);
  const files = readJson(join(dir, 'run.json'), 'run.json') as RunFiles;
  if (typeof files?.data !== 'string' || typeof files.model !== 'string') throw new UserError(`${join(dir, 'run.json')} does not name the run's data and model.`);
  return { checkpoint, files };
}

/** Whether a process of this pid runs (one of another user's counts). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock file, or says whose it is; false: there was a stale one to take over. */
function takeLock(path: string, dir: string): boolean {
  try {
    writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
    throw new UserError(`${dir} is in use by another lemo train (pid ${pid}, in ${join(dir, LOCK_FILE)}); wait for it to end, or give another --checkpoint-dir.`);
  }
  return false;
}

/**
 * Locks a checkpoint folder for this process (made when missing): a lock left by a process that
 * has ended is taken over; one of a running process refuses. Returns the release.
 */
export function lockCheckpointDir(dir: string): () => void {
  ensureDir(dir);
  const path = join(dir, LOCK_FILE);
  if (!takeLock(path, dir)) {
    rmSync(path, { force: true });
    if (!takeLock(path, dir)) throw new UserError(`${dir} was just taken by another lemo train; give another --checkpoint-dir.`);
  }
  return () => {
    if (existsSync(path) && Number.parseInt(readFileSync(path, 'utf8'), 10) === process.pid) rmSync(path, { force: true });
  };
}

const reasonOf = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return 'the disk is full';
  if (code === 'EDQUOT') return 'the disk quota is used up';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'the folder is not writable';
  return (e as Error).message ?? String(e);
};

function removed(path: string): boolean {
  try {
    rmSync(path, { force: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * Records the run's files, and returns the writer of its checkpoints. `previous` is the step of
 * the checkpoint already there (a resumed run's); `write` writes a file (a seam for tests). A
 * write that fails removes its partial file and says which checkpoint stays.
 */
export function checkpointDir(dir: string, files: RunFiles, previous = 0, write: (path: string, bytes: Uint8Array) => void = writeFile): (bytes: Uint8Array, step: number) => Promise<void> {
  ensureDir(dir);
  writeFile(join(dir, 'run.json'), `${JSON.stringify({ ...files, data: resolve(files.data), model: resolve(files.model) }, null, 2)}\n`);
  let last = previous;
  return async (bytes, step) => {
    const tmp = join(dir, `${CHECKPOINT_FILE}.tmp`);
    try {
      write(tmp, bytes);
      renameSync(tmp, join(dir, CHECKPOINT_FILE));
    } catch (e) {
      const kept = last > 0 ? `the checkpoint of step ${last} stays there for --resume` : 'there is no earlier checkpoint';
      const partial = removed(tmp) ? 'its partial file was removed' : `its partial file ${tmp} could not be removed`;
      throw new UserError(`The checkpoint after step ${step} could not be written to ${dir} (${reasonOf(e)}): ${partial} and ${kept}.`);
    }
    last = step;
  };
}

// A run's checkpoint folder on disk: checkpoint.safetensors (the engine's checkpoint, replaced
// whole by a rename so a crash mid-write leaves the previous one) and run.json (the files the
// run read, so `lemo train --resume DIR` needs nothing else).
import { existsSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeCheckpoint, UserError, type Checkpoint } from '../engine/node';
import { ensureDir, readBytes, readJson, writeFile } from './files';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

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

/** Records the run's files, and returns the writer of its checkpoints. */
export function checkpointDir(dir: string, files: RunFiles): (bytes: Uint8Array) => Promise<void> {
  ensureDir(dir);
  writeFile(join(dir, 'run.json'), `${JSON.stringify({ ...files, data: resolve(files.data), model: resolve(files.model) }, null, 2)}\n`);
  return async (bytes) => {
    const tmp = join(dir, `${CHECKPOINT_FILE}.tmp`);
    writeFile(tmp, bytes);
    renameSync(tmp, join(dir, CHECKPOINT_FILE));
  };
}

// Disk access for the CLI: the engine itself takes bytes and parsed JSON, never paths.
import { accessSync, closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  checkDatasetSize, INDEX_FILE, parseJsonText, readSafetensorsHeader, safetensorsHeaderLength, shardNames, SINGLE_FILE, UserError, type ModelFiles, type StHeader, type WeightFile,
} from '../engine/node';

/** Refuses a path that is missing or a folder where a file is wanted. */
function fileAt(path: string, what: string): void {
  if (!existsSync(path)) throw new UserError(`${what} not found: ${path}`);
  if (statSync(path).isDirectory()) throw new UserError(`${what} (${path}) is a folder; give the file itself.`);
}

export function readJson(path: string, what: string): unknown {
  fileAt(path, what);
  return parseJsonText(readFileSync(path, 'utf8'), `${what} (${path})`);
}

export function readBytes(path: string, what: string): Uint8Array {
  fileAt(path, what);
  return new Uint8Array(readFileSync(path));
}

/**
 * A dataset file's bytes: refused when larger than the engine's limit before it is read; a
 * device or a pipe (which has no size) is read up to the limit, and no further than its first
 * block when that block is binary (the engine then says so).
 */
export function readDatasetBytes(path: string): Uint8Array {
  if (!existsSync(path)) throw new UserError(`Dataset not found: ${path}`);
  const name = basename(path);
  const st = statSync(path);
  if (st.isDirectory()) throw new UserError(`${path} is a folder; give a dataset file in it (.txt, .md or .jsonl, gzipped or not).`);
  if (st.isFile()) {
    checkDatasetSize(name, st.size);
    return new Uint8Array(readFileSync(path));
  }
  const fd = openSync(path, 'r');
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = new Uint8Array(2 ** 20);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      checkDatasetSize(name, total, { partial: true });
      const head = chunks[0];
      if (!(head[0] === 0x1f && head[1] === 0x8b) && head.subarray(0, 8000).includes(0)) break;
    }
    return Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}

/** The model folder's policy file: when present, its default keep policy. */
export const POLICY_FILE = 'policy.json';

/** `length` bytes at `position` of an open file, read in pieces (one read takes at most 2 GiB). */
function readAt(fd: number, position: number, length: number, path: string): Uint8Array {
  const out = new Uint8Array(length);
  for (let done = 0; done < length; ) {
    const n = readSync(fd, out, done, Math.min(length - done, 2 ** 30), position + done);
    if (n === 0) throw new UserError(`${path} ended after ${position + done} bytes while it was read: it changed on disk or is cut short; load the model again.`);
    done += n;
  }
  return out;
}

/**
 * A safetensors file on disk: its 8-byte length and its header are read and checked first; each
 * tensor's bytes are read only when asked, into a buffer of their own (never the whole file
 * into one), so a file of any size loads and a refusal from the header reads no data.
 */
export function openWeightFile(path: string, name: string): WeightFile {
  fileAt(path, name);
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  let header: StHeader;
  try {
    const len = safetensorsHeaderLength(readAt(fd, 0, Math.min(8, size), path), size, name);
    header = readSafetensorsHeader(readAt(fd, 0, 8 + len, path), name, size);
  } finally {
    closeSync(fd);
  }
  const read = (e: { start: number; end: number }) => {
    const at = openSync(path, 'r');
    try {
      if (fstatSync(at).size !== size) throw new UserError(`${path} changed on disk since the model was loaded: load the model again.`);
      return readAt(at, header.dataStart + e.start, e.end - e.start, path);
    } finally {
      closeSync(at);
    }
  };
  return { name, size, header, read };
}

/**
 * A model folder's weights, headers read and checked but no tensor yet: model.safetensors, or,
 * without it, the shards model.safetensors.index.json names (those present: the engine says
 * which are missing).
 */
function readWeights(dir: string): Pick<ModelFiles, 'weights' | 'index'> {
  const indexPath = join(dir, INDEX_FILE);
  if (existsSync(join(dir, SINGLE_FILE)) || !existsSync(indexPath)) return { weights: [openWeightFile(join(dir, SINGLE_FILE), SINGLE_FILE)] };
  const index = readJson(indexPath, INDEX_FILE);
  const present = shardNames(index).filter((n) => existsSync(join(dir, n)));
  return { weights: present.map((n) => openWeightFile(join(dir, n), n)), index };
}

/**
 * A model folder's config and weights (see readWeights); with `policy`, its policy.json as read
 * when it has one (the engine validates it), for the commands whose runs it is the default policy of.
 */
export function readModelDir(dir: string, opts: { policy?: boolean } = {}): ModelFiles & { policy?: unknown } {
  const policy = join(dir, POLICY_FILE);
  return {
    config: readJson(join(dir, 'config.json'), 'config.json'),
    ...readWeights(dir),
    policy: opts.policy && existsSync(policy) ? readJson(policy, POLICY_FILE) : undefined,
  };
}

export function readAdapterDir(dir: string): { config: unknown; weights: Uint8Array } {
  return {
    config: readJson(join(dir, 'adapter_config.json'), 'adapter_config.json'),
    weights: readBytes(join(dir, 'adapter_model.safetensors'), 'adapter_model.safetensors'),
  };
}

/** Writes a file, making its folder when missing. */
export function writeFile(path: string, data: Uint8Array | string): void {
  ensureDir(dirname(path));
  writeFileSync(path, data);
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

function statOf(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** Whether this user may write there (a file), or make and replace files in it (a folder). */
function writable(path: string, kind: 'folder' | 'file'): boolean {
  try {
    accessSync(path, kind === 'folder' ? constants.W_OK | constants.X_OK : constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses, before any work, an output place that could not be written at the end: a file where a
 * folder is wanted (or a folder where a file is), a read-only place, or a folder that cannot be
 * made because something on its way is a file or read-only. Nothing is created.
 */
export function checkOutput(path: string, flag: string, kind: 'folder' | 'file'): void {
  const st = statOf(path);
  if (st && kind === 'folder' && !st.isDirectory()) throw new UserError(`${flag} ${path} is a file, not a folder: give a folder to write into (it is made when missing).`);
  if (st && kind === 'file' && st.isDirectory()) throw new UserError(`${flag} ${path} is a folder, not a file: give a file name to write.`);
  if (st) {
    if (!writable(path, kind)) throw new UserError(`${flag} ${path} is read-only here: give a place this user can write to.`);
    return;
  }
  let up = dirname(resolve(path));
  while (!statOf(up)) up = dirname(up);
  if (!statOf(up)!.isDirectory()) throw new UserError(`${flag} ${path} cannot be made: ${up} is a file, not a folder.`);
  if (!writable(up, 'folder')) throw new UserError(`${flag} ${path} cannot be made: ${up} is read-only here; give a place this user can write to.`);
}

/** Whether two paths name the same file or folder (symbolic and hard links followed). */
export function samePlace(a: string, b: string): boolean {
  const [x, y] = [statOf(a), statOf(b)];
  return !!x && !!y && x.dev === y.dev && x.ino === y.ino;
}

/** Refuses an output folder for a model (config.json, model.safetensors) that would overwrite the base model's own files. */
export function checkNotModelDir(out: string, modelDir: string, flag: string): void {
  if (samePlace(out, modelDir) || ['config.json', 'model.safetensors'].some((f) => samePlace(join(out, f), join(modelDir, f)))) {
    throw new UserError(`${flag} ${out} is the base model's folder (${modelDir}): writing there would overwrite its weights, so give another folder.`);
  }
}

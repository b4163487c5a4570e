// The studio's run checkpoint in the origin-private file system (OPFS), from the engine worker:
// one folder holding the run's data files (data.json, written once when the run starts, so a
// reload can resume on data that was dropped on the page) and its latest checkpoint
// (checkpoint.safetensors, replaced whole on each write: a writable stream commits on close,
// so a crash mid-write leaves the previous one).
import { z } from 'zod';
import { decodeCheckpoint, UserError, type Checkpoint, type TrainSettings } from '../engine';

/** A data file of the run, as the page sent it. */
interface TextFile {
  name: string;
  text: string;
}

const textFiles = z.array(z.object({ name: z.string(), text: z.string() }));

const DIR = 'lemo-run';
const DATA = 'data.json';
const CHECKPOINT = 'checkpoint.safetensors';

/** What the page shows about an interrupted run. */
export interface InterruptedRun {
  step: number;
  steps: number;
  settings: TrainSettings;
  files: string[];
  bytes: number;
}

async function folder(): Promise<FileSystemDirectoryHandle | null> {
  if (!navigator.storage?.getDirectory) return null;
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DIR, { create: true });
}

async function write(dir: FileSystemDirectoryHandle, name: string, data: Uint8Array | string): Promise<void> {
  const handle = await dir.getFileHandle(name, { create: true });
  const w = await handle.createWritable();
  await w.write(typeof data === 'string' ? data : new Uint8Array(data));
  await w.close();
}

async function read(dir: FileSystemDirectoryHandle, name: string): Promise<File | null> {
  try {
    return await (await dir.getFileHandle(name)).getFile();
  } catch (e) {
    if ((e as DOMException).name === 'NotFoundError') return null;
    throw e;
  }
}
/** A new run: its data files replace the last run's, and the last run's checkpoint goes. */
export async function beginRun(files: TextFile[]): Promise<void> {
  const dir = await folder();
  if (!dir) return;
  await dir.removeEntry(CHECKPOINT).catch(() => {});
  await write(dir, DATA, JSON.stringify(files));
}

export async function saveCheckpoint(bytes: Uint8Array): Promise<void> {
  const dir = await folder();
  if (dir) await write(dir, CHECKPOINT, bytes);
}

/** The interrupted run's checkpoint and data, or null when there is none. */
export async function loadRun(): Promise<{ checkpoint: Checkpoint; files: TextFile[]; bytes: number } | null> {
  const dir = await folder();
  if (!dir) return null;
  const [ck, data] = await Promise.all([read(dir, CHECKPOINT), read(dir, DATA)]);
  if (!ck || !data) return null;
  const checkpoint = decodeCheckpoint(new Uint8Array(await ck.arrayBuffer()), 'the saved checkpoint');
  const files = textFiles.safeParse(JSON.parse(await data.text()));
  if (!files.success) throw new UserError(`the run's ${DATA} does not list its data files`);
  return { checkpoint, files: files.data, bytes: ck.size };
}

/** The interrupted run, for the page; one that cannot be read is discarded with a sentence. */
export async function interruptedRun(): Promise<InterruptedRun | null> {
  let run: Awaited<ReturnType<typeof loadRun>>;
  try {
    run = await loadRun();
  } catch (e) {
    await clearRun();
    throw new UserError(`A run was interrupted, but its checkpoint in this browser's storage could not be read (${(e as Error).message}); it was discarded.`);
  }
  if (!run) return null;
  const settings = run.checkpoint.run.settings;
  return { step: run.checkpoint.run.step, steps: settings.steps, settings, files: run.files.map((f) => f.name), bytes: run.bytes };
}

/** The run ended (finished or stopped) or was discarded: nothing left to resume. */
export async function clearRun(): Promise<void> {
  const dir = await folder();
  if (!dir) return;
  for (const name of [CHECKPOINT, DATA]) await dir.removeEntry(name).catch(() => {});
}

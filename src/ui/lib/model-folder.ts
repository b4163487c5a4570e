// A model folder as the page receives it (a dropped folder, several dropped files, or a folder
// picked with the file dialog): which file is which, and what is missing. The weights are one
// model.safetensors, or the shards model.safetensors.index.json names.
import { INDEX_FILE, shardNames, SINGLE_FILE } from '../../engine/model/weights';

export interface ModelFolder {
  /** The folder's name as the user knows it. */
  name: string;
  config: File;
  /** model.safetensors; null when the weights come in shards (see index). */
  weights: File | null;
  /** model.safetensors.index.json, when the folder has it and no model.safetensors. */
  index: File | null;
  /** Every file of the folder by name, top level first: the shards the index names are among them. */
  files: Map<string, File>;
  tokenizer: File;
  tokenizerConfig: File | null;
  predictors: File | null;
  /** policy.json: the model's default keep policy (optional; the engine validates it). */
  policy: File | null;
}

const REQUIRED = ['config.json', 'model.safetensors', 'tokenizer.json'] as const;
const HOLDS = 'A model folder holds config.json, model.safetensors (or model.safetensors.index.json and the shards it names) and tokenizer.json.';

/** The path a file came with (a picked folder sets webkitRelativePath), else its name. */
export function pathOf(f: File & { path?: string }): string {
  return f.webkitRelativePath || f.path || f.name;
}

const base = (p: string) => p.split('/').pop() ?? p;

/** The folder's files by name, or a sentence saying what is wrong with it. */
export function modelFolder(files: readonly File[], fallbackName = 'the dropped files'): ModelFolder | string {
  if (files.length === 0) return `The folder is empty. ${HOLDS}`;
  // Files at the top of the folder win over files of the same name in its subfolders.
  const depth = (f: File) => pathOf(f).split('/').length;
  const byName = new Map<string, File>();
  for (const f of [...files].sort((a, b) => depth(a) - depth(b))) if (!byName.has(base(pathOf(f)))) byName.set(base(pathOf(f)), f);
  const missing = REQUIRED.filter((n) => !byName.has(n) && !(n === SINGLE_FILE && byName.has(INDEX_FILE)));
  const top = pathOf(files[0]).split('/');
  const name = top.length > 1 ? top[0] : fallbackName;
  if (missing.length) {
    const other = byName.has('pytorch_model.bin') ? ' It has pytorch_model.bin: save the model as safetensors first (save_pretrained(..., safe_serialization=True)).' : '';
    return `${name} is not a model folder: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing. ${HOLDS}${other}`;
  }
  return {
    name,
    config: byName.get('config.json')!,
    weights: byName.get(SINGLE_FILE) ?? null,
    index: byName.has(SINGLE_FILE) ? null : byName.get(INDEX_FILE)!,
    files: byName,
    tokenizer: byName.get('tokenizer.json')!,
    tokenizerConfig: byName.get('tokenizer_config.json') ?? null,
    predictors: byName.get('predictors.safetensors') ?? null,
    policy: byName.get('policy.json') ?? null,
  };
}

/**
 * The shards a folder's index names, or a sentence naming those missing (the engine checks
 * what each holds against the index).
 */
export function shardFiles(folder: ModelFolder, index: unknown): File[] | string {
  let names: string[];
  try {
    names = shardNames(index);
  } catch (e) {
    return (e as Error).message;
  }
  const missing = names.filter((n) => !folder.files.has(n));
  if (missing.length) return `${INDEX_FILE} names ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not in ${folder.name}: add every shard the index names.`;
  return names.map((n) => folder.files.get(n)!);
}

type Entry = { isFile: boolean; isDirectory: boolean; name: string; fullPath: string };
type FileEntry = Entry & { file(ok: (f: File) => void, fail: (e: unknown) => void): void };
type DirEntry = Entry & { createReader(): { readEntries(ok: (e: Entry[]) => void, fail: (e: unknown) => void): void } };

async function readDir(dir: DirEntry): Promise<Entry[]> {
  const reader = dir.createReader();
  const all: Entry[] = [];
  // readEntries answers in batches until an empty one.
  for (;;) {
    const batch = await new Promise<Entry[]>((ok, fail) => reader.readEntries(ok, fail));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

async function walk(entry: Entry, out: File[], depth: number): Promise<void> {
  if (entry.isFile) {
    const f = await new Promise<File>((ok, fail) => (entry as FileEntry).file(ok, fail));
    // Keep the folder path, as a picked folder does.
    out.push(new File([f], f.name, { type: f.type, lastModified: f.lastModified }));
    Object.defineProperty(out[out.length - 1], 'webkitRelativePath', { value: entry.fullPath.replace(/^\//, '') });
  } else if (entry.isDirectory && depth < 2) {
    for (const e of await readDir(entry as DirEntry)) await walk(e, out, depth + 1);
  }
}

/** The files of a drop: a dropped folder is read (with one level of subfolders); loose files as they are. */
export async function droppedFiles(dt: DataTransfer): Promise<File[]> {
  // Entries must be taken before the first await: the DataTransfer empties after the event.
  const entries = [...dt.items].map((i) => (i.kind === 'file' ? (i.webkitGetAsEntry() as Entry | null) : null));
  const loose = [...dt.files];
  if (!entries.some((e) => e?.isDirectory)) return loose;
  const out: File[] = [];
  for (const e of entries) if (e) await walk(e, out, 0);
  return out;
}

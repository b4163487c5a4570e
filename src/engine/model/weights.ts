// A model's weights: one model.safetensors, or the shards the hub splits large models into
// (model-0000N-of-0000M.safetensors, with model.safetensors.index.json saying which shard holds
// each tensor). Every header and the index are checked before any tensor's bytes are read; a
// tensor's bytes are asked of its file one at a time, so a shell may keep them on disk until then.
import { UserError } from '../errors';
import { decodeTensor, readSafetensorsHeader, type StEntry, type StHeader } from './safetensors';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/** One safetensors file: its size, its checked header, and the bytes of one tensor when asked. */
export interface WeightFile {
  name: string;
  size: number;
  header: StHeader;
  /** The whole file is in memory (bytes fetched or given), not read a tensor at a time. */
  resident?: boolean;
  /** The raw little-endian bytes of one of its header's entries. */
  read(e: StEntry): Uint8Array;
}

/** The checked set: every tensor by name, with the file that holds it. */
export interface WeightSet {
  files: WeightFile[];
  tensors: Map<string, { file: WeightFile; entry: StEntry }>;
  /** How sentences name the weights (a singular noun): model.safetensors, or the sharded checkpoint. */
  label: string;
}

/** The set's label at the start of a sentence (a file name keeps its case). */
export const labelAtStart = (set: WeightSet): string => (set.label.startsWith('the ') ? `The ${set.label.slice(4)}` : set.label);

/** A safetensors file held whole in memory. */
export function weightFileOf(bytes: Uint8Array, name = SINGLE_FILE): WeightFile {
  const header = readSafetensorsHeader(bytes, name);
  return { name, size: bytes.byteLength, header, resident: true, read: (e) => bytes.subarray(header.dataStart + e.start, header.dataStart + e.end) };
}

/** The values of one tensor of the set, widened to float32. */
export function readTensor(set: WeightSet, name: string): Float32Array {
  const t = set.tensors.get(name)!;
  return decodeTensor(t.file.read(t.entry), t.entry.dtype);
}

/** The index's weight_map, checked: tensor name → shard, each shard a plain .safetensors file name of the folder. */
export function indexMap(index: unknown): Map<string, string> {
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new UserError(`${INDEX_FILE} has no weight_map object (tensor name → shard file), so the shards cannot be read: copy the index that came with the model.`);
  }
  const out = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || !/^[^/\\]+\.safetensors$/.test(shard) || shard.startsWith('.')) {
      throw new UserError(`${INDEX_FILE} puts ${tensor} in ${JSON.stringify(shard)}, which is not the name of a .safetensors file in the model folder.`);
    }
    out.set(tensor, shard);
  }
  if (out.size === 0) throw new UserError(`${INDEX_FILE} lists no tensors: copy the index that came with the model.`);
  return out;
}

/** The shard files the index names, in order. */
export function shardNames(index: unknown): string[] {
  return [...new Set(indexMap(index).values())].sort();
}

/** Refuses shards that disagree with the index: a shard missing, a tensor the index puts in a shard that lacks it, or a shard tensor the index does not put there. */
function checkShards(files: WeightFile[], map: Map<string, string>): void {
  const byName = new Map(files.map((f) => [f.name, f]));
  const missing = shardNames({ weight_map: Object.fromEntries(map) }).filter((n) => !byName.has(n));
  if (missing.length) {
    throw new UserError(`${INDEX_FILE} names ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not in the model folder: copy every shard the index names.`);
  }
  for (const f of files) {
    for (const e of f.header.entries) {
      const listed = map.get(e.name);
      if (listed !== f.name) {
        throw new UserError(`${f.name} holds ${e.name}, which ${INDEX_FILE} ${listed ? `puts in ${listed}` : 'does not list'}: the shards and the index are from different models or versions.`);
      }
    }
  }
  for (const [tensor, shard] of map) {
    if (!byName.get(shard)!.header.entries.some((e) => e.name === tensor)) {
      throw new UserError(`${INDEX_FILE} puts ${tensor} in ${shard}, but that shard has no such tensor: the shard is damaged or from another version of the model.`);
    }
  }
}

const sets = new WeakMap<object, WeightSet>();

/**
 * The weights checked as one set: a file's bytes or a single file alone; several files with
 * the index they were split by. Computed once per weights object.
 */
export function weightSet(weights: Uint8Array | WeightFile[], index?: unknown): WeightSet {
  const known = sets.get(weights);
  if (known) return known;
  const files = weights instanceof Uint8Array ? [weightFileOf(weights)] : weights;
  const sharded = !(weights instanceof Uint8Array) && (index !== undefined || files.length !== 1);
  if (sharded) {
    if (index === undefined) throw new UserError(`The model's weights come in ${files.length} files but without ${INDEX_FILE}, which says which file holds each tensor.`);
    checkShards(files, indexMap(index));
  }
  const tensors = new Map<string, { file: WeightFile; entry: StEntry }>();
  for (const file of files) for (const entry of file.header.entries) tensors.set(entry.name, { file, entry });
  const set = { files, tensors, label: sharded ? `the sharded checkpoint (${INDEX_FILE})` : files[0].name };
  sets.set(weights, set);
  return set;
}

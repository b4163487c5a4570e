// The identity of a model's weights: what a checkpoint records so that it resumes only onto the
// weights it was trained from, not onto other weights of the same shape.
import { weightSet, type WeightFile, type WeightSet } from './weights';

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  // WebCrypto takes no views of shared memory: those are copied.
  const own = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
  return new Uint8Array(await crypto.subtle.digest('SHA-256', own));
}

/** Computed once per loaded file (a run after another on the same model does not hash it again). */
const known = new WeakMap<WeightSet, Promise<string>>();

/**
 * SHA-256 (hex) of a checkpoint's tensors, in name order: each one's name, dtype, shape and
 * the SHA-256 of its bytes (one tensor at a time, so no copy of the whole file is made). The
 * headers' layout and metadata, and how the tensors are split into shards, do not count.
 */
export function weightsHash(weights: WeightSet | Uint8Array | WeightFile[]): Promise<string> {
  const set = weights instanceof Uint8Array || Array.isArray(weights) ? weightSet(weights) : weights;
  let hash = known.get(set);
  if (!hash) known.set(set, (hash = hashTensors(set)));
  return hash;
}

async function hashTensors(set: WeightSet): Promise<string> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const name of [...set.tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const { file, entry: e } = set.tensors.get(name)!;
    parts.push(enc.encode(`${e.name}\0${e.dtype}\0${e.shape.join(',')}\0`));
    parts.push(await sha256(file.read(e)));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return [...(await sha256(all))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

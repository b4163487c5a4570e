// The identity of a model's weights: what a checkpoint records so that it resumes only onto the
// weights it was trained from, not onto other weights of the same shape.
import { readSafetensorsHeader } from './safetensors';

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  // WebCrypto takes no views of shared memory: those are copied.
  const own = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
  return new Uint8Array(await crypto.subtle.digest('SHA-256', own));
}

/** Computed once per loaded file (a run after another on the same model does not hash it again). */
const known = new WeakMap<Uint8Array, Promise<string>>();

/**
 * SHA-256 (hex) of a safetensors file's tensors, in name order: each one's name, dtype, shape and
 * the SHA-256 of its bytes (one tensor at a time, so no copy of the whole file is made). The
 * header's layout and metadata do not count.
 */
export function weightsHash(bytes: Uint8Array): Promise<string> {
  let hash = known.get(bytes);
  if (!hash) known.set(bytes, (hash = hashTensors(bytes)));
  return hash;
}

async function hashTensors(bytes: Uint8Array): Promise<string> {
  const h = readSafetensorsHeader(bytes);
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const e of [...h.entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    parts.push(enc.encode(`${e.name}\0${e.dtype}\0${e.shape.join(',')}\0`));
    parts.push(await sha256(bytes.subarray(h.dataStart + e.start, h.dataStart + e.end)));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return [...(await sha256(all))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

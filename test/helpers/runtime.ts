import { Runtime } from '../../src/engine/runtime/runtime';
import { loadOrtForNode, type NodeBackend } from '../../src/engine/runtime/ort-node';

const shared = new Map<NodeBackend, Promise<Runtime>>();

/** One runtime per backend for a test file (sessions are cached inside it); WASM unless asked. */
export function nodeRuntime(backend: NodeBackend = 'wasm'): Promise<Runtime> {
  let rt = shared.get(backend);
  if (!rt) {
    rt = loadOrtForNode(1, backend).then(({ ort, provider }) => new Runtime(ort, { provider, threads: 1 }));
    shared.set(backend, rt);
  }
  return rt;
}

/** A seeded generator (mulberry32) so every test draws the same "random" inputs. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(r: () => number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

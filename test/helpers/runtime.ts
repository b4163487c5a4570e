import { Runtime } from '../../src/engine/runtime/runtime';
import { loadOrtForNode, type NodeBackend } from '../../src/engine/runtime/ort-node';
import { mulberry32 } from '../../src/engine/train/random';

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

/** The engine's seeded generator, so every test draws the same "random" inputs. */
export const rng = mulberry32;

export function randn(r: () => number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

export { relErr } from './compare';

// onnxruntime for Node shells (the CLI, tests, benchmarks): onnxruntime-node's native CPU
// provider by default (several times faster), or onnxruntime-web's WASM provider, the one
// the browser runs, on request.
import type { Ort, Provider } from './runtime';

export type NodeBackend = 'node' | 'wasm';

export async function loadOrtForNode(threads = 1, backend: NodeBackend = 'wasm'): Promise<{ ort: Ort; provider: Provider }> {
  if (backend === 'node') {
    const ort = (await import('onnxruntime-node')) as unknown as Ort;
    return { ort, provider: 'cpu' };
  }
  const ort = (await import('onnxruntime-web')) as unknown as Ort & { env: { wasm: { numThreads: number }; logLevel: string } };
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  return { ort, provider: 'wasm' };
}

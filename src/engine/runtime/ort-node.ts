// onnxruntime-web for Node shells (the CLI and tests): the WASM provider, threads on request.
import type { Ort } from './runtime';

export async function loadOrtForNode(threads = 1): Promise<Ort> {
  const ort = (await import('onnxruntime-web')) as unknown as Ort & { env: { wasm: { numThreads: number }; logLevel: string } };
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  return ort;
}

// Matrix-multiply rates of the engine's Node providers:
//   npx tsx bench/peers/node-matmul.ts [n] [reps] [threads]
import { Runtime } from '../../src/engine/runtime/runtime';
import { loadOrtForNode } from '../../src/engine/runtime/ort-node';
import { ortMatmul } from './matmul';

const [n = 1024, reps = 10, threads = 2] = process.argv.slice(2).map(Number);
for (const backend of ['node', 'wasm'] as const) {
  const { ort, provider } = await loadOrtForNode(threads, backend);
  const rt = new Runtime(ort, { provider, threads });
  const r = await ortMatmul(rt, n, reps);
  console.log(JSON.stringify({ provider: backend === 'node' ? 'onnxruntime-node CPU' : 'onnxruntime-web WASM (Node)', threads, ...r }));
}

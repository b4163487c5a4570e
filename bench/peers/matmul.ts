// The matrix-multiply rate of an onnxruntime provider through the engine's Runtime: one
// n×n·n×n MatMul graph, median of reps runs after two warm-ups, 2n³ floating-point operations each.
import { GraphBuilder } from '../../src/engine/graph/builder';
import type { Runtime } from '../../src/engine/runtime/runtime';

export async function ortMatmul(rt: Runtime, n: number, reps: number): Promise<{ n: number; ms: number; gflops: number }> {
  const b = new GraphBuilder('peers_matmul');
  b.output(b.matmul(b.input('a', 'float32', ['N', 'N']), b.input('b', 'float32', ['N', 'N'])), 'c');
  const g = b.build();
  const rand = () => { const d = new Float32Array(n * n); for (let i = 0; i < d.length; i++) d[i] = Math.random() - 0.5; return rt.tensor('float32', d, [n, n]); };
  const feeds = { a: rand(), b: rand() };
  const ms: number[] = [];
  for (let i = 0; i < reps + 2; i++) {
    const t0 = performance.now();
    const out = await rt.run(g, feeds);
    if (i >= 2) ms.push(performance.now() - t0);
    rt.dispose(out.c);
  }
  const m = [...ms].sort((x, y) => x - y)[Math.floor(ms.length / 2)];
  return { n, ms: m, gflops: (2 * n ** 3) / (m / 1000) / 1e9 };
}

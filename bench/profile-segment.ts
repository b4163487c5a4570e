// Per-operator time of one attention segment's backward (recompute and differentiate) on
// onnxruntime-node's CPU provider, from onnxruntime's own profiling:
//   npx tsx bench/profile-segment.ts [query rows S, 256] [keys K, 4096] [threads, 2]
// The segment is the last S rows of K kept tokens attending to all K keys (the longest segment).
import { readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { segmentGraphs } from '../src/engine/train/layer-graphs';
import { toOnnx } from '../src/engine/graph/onnx';
import { loadModel } from '../src/engine/model/model';
import { readModelDir } from '../src/cli/files';
const cfg = loadModel(readModelDir('public/models/lemo-tiny')).config;
const g = segmentGraphs(cfg).backwardFirst;
const S = Number(process.argv[2] ?? 256);
const K = Number(process.argv[3] ?? 4096);
const E = K;
const threads = Number(process.argv[4] ?? 2);
const prefix = `lemo-segment-profile-${process.pid}`;
const dims: Record<string, number> = { B: 1, K, S, E };
const sess = await ort.InferenceSession.create(toOnnx(g), { intraOpNumThreads: threads, enableProfiling: true, profileFilePrefix: join(tmpdir(), prefix), graphOptimizationLevel: 'all' });
const feeds: Record<string, ort.Tensor> = {};
for (const i of g.inputs) {
  const shape = i.shape.map((d) => (typeof d === 'number' ? d : dims[d]));
  const n = shape.reduce((a, b) => a * b, 1);
  if (i.dtype === 'int64') feeds[i.name] = new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, j) => BigInt(i.name === 'qrows' ? K - S + j : j)), shape);
  else feeds[i.name] = new ort.Tensor('float32', Float32Array.from({ length: n }, (_, j) => (i.name.includes('pos') ? (i.name === 'qpos' ? K - S + j : j) : Math.sin(j) * 0.1)), shape);
}
for (let r = 0; r < 4; r++) await sess.run(feeds);
const t0 = performance.now();
for (let r = 0; r < 4; r++) await sess.run(feeds);
const ms = (performance.now() - t0) / 4;
const flop = 6 * 2 * cfg.heads * S * E * cfg.headDim; // q·kᵀ and p·v recomputed, then dP, dV, dQ, dK
console.log(`segment backward, S ${S} × K ${K}, ${threads} threads: ${ms.toFixed(1)} ms per run; its six attention products ${(flop / 1e9).toFixed(2)} GFLOP → ${(flop / ms / 1e6).toFixed(0)} GFLOP/s over the whole run`);
sess.endProfiling();
const file = join(tmpdir(), readdirSync(tmpdir()).find((f) => f.startsWith(prefix))!);
const ev = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
unlinkSync(file);
const by = new Map<string, number>();
for (const e of ev) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) by.set(e.args?.op_name ?? e.name, (by.get(e.args?.op_name ?? e.name) ?? 0) + e.dur);
const tot = [...by.values()].reduce((a, b) => a + b, 0);
// Profiled runs: the 4 warm-up runs and the 4 timed ones (durations in µs).
for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${k.padEnd(20)} ${(v / 8000).toFixed(1).padStart(6)} ms per run  ${((100 * v) / tot).toFixed(0).padStart(3)}%`);

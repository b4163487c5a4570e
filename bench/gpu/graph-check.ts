/// <reference types="@webgpu/types" />
// The engine's own graph kernels (src/engine/runtime/kernels/graph-plan.ts) against onnxruntime's
// WebGPU provider on the same device, graph by graph: a layer's forward and backward, dense and
// token-eliminating, of a model folder's config, at given dims. Prints each output's largest
// relative error, and the time of both at repeated runs.
//
//   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
//   npx tsx bench/gpu/graph-check.ts --dawn node_modules/webgpu/dist/linux-x64/dawn.node \
//     --ort node_modules/onnxruntime-web/dist/ort.bundle.min.mjs --wasm node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.jsep.wasm
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { Runtime, type Tensor } from '../../src/engine/runtime/runtime';
import { layerGraphs } from '../../src/engine/train/layer-graphs';
import { parseConfig } from '../../src/engine/model/config';
import { loraConfig, targetedModules } from '../../src/engine/model/lora';
import { resolvedDims } from '../../src/engine/memory/plan';
import type { Graph } from '../../src/engine/graph/ir';
import { GraphBuilder } from '../../src/engine/graph/builder';
import { dawnOptions, installDawn, loadOrt } from './dawn-env';

const o = dawnOptions(new Command())
  .option('--model <dir>', 'model folder (its config.json)', 'public/models/lemo-tiny')
  .option('--tokens <n>', 'tokens (T)', '64')
  .option('--kept <n>', 'kept rows of the token-eliminating layer (K)', '32')
  .option('--mlp-keep <x>', "sparse layers' MLP channel share")
  .option('--reps <n>', 'timed runs of each graph, both ways', '0')
  .option('--out <file>', 'JSON lines of the results')
  .parse()
  .opts<{ dawn: string; ort: string; wasm: string; model: string; tokens: string; kept: string; mlpKeep?: string; reps: string; out?: string }>();

const { gpu } = installDawn(o.dawn, ['enable-dawn-features=allow_unsafe_apis']);
void gpu;
const ort = await loadOrt(o.ort, o.wasm);
const cfg = parseConfig(JSON.parse(readFileSync(join(o.model, 'config.json'), 'utf8')));
const lora = loraConfig(8, 16, ['q_proj', 'k_proj', 'v_proj', 'o_proj']);
const T = Number(o.tokens);
const K = Number(o.kept);
const env = new Map([['B', 1], ['T', T], ['K', K]]);
const ref = new Runtime(ort, { provider: 'webgpu', ownGraphs: false });
const own = new Runtime(ort, { provider: 'webgpu', ownGraphs: true });
let seed = 1;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31 - 0.5;
};
const rows = Array.from({ length: K }, (_, i) => Math.floor((i * T) / K) + (i % 2));
const lines: object[] = [];

function feedsFor(g: Graph, given: Record<string, Tensor>): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const i of g.inputs) {
    if (given[i.name]) {
      feeds[i.name] = given[i.name];
      continue;
    }
    const dims = resolvedDims(g, i.name, env);
    if (!dims) throw new Error(`${g.name}: dims of ${i.name}`);
    const n = dims.reduce((a, b) => a * b, 1);
    if (i.dtype === 'int64') feeds[i.name] = new ort.Tensor('int64', BigInt64Array.from(rows.slice(0, n), BigInt), dims);
    else feeds[i.name] = new ort.Tensor('float32', Float32Array.from({ length: n }, () => (i.name.startsWith('cos') || i.name.startsWith('sin') ? Math.cos(n * rand()) : rand() * (i.name.includes('lora_B') ? 0.1 : 1))), dims);
  }
  return feeds;
}

async function compare(g: Graph, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const a = await ref.run(g, feeds);
  const before = { ...own.kernelRuns };
  const b = await own.run(g, feeds);
  const runner = await own.graphRunner();
  const ran = runner?.counts.ran.has(g.name) ?? false;
  const errs: Record<string, number> = {};
  for (const name of Object.keys(a)) {
    const x = await ref.read(a[name]);
    const y = await own.read(b[name]);
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(Number(x[i])));
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(Number(x[i]) - Number(y[i])) / Math.max(scale, 1e-30));
    if (x.length !== y.length) worst = Infinity;
    errs[name] = worst;
  }
  const dispatches = own.kernelRunsSince(before);
  const line: Record<string, unknown> = { graph: g.name, nodes: g.nodes.length, own: ran, declined: runner?.counts.declined.get(g.name), dispatches, worst: Math.max(...Object.values(errs)), errs };
  const reps = Number(o.reps);
  if (reps > 0 && ran) {
    // Timed with the float inputs on the GPU, as in a step.
    for (const [k, t] of Object.entries(feeds)) if (t.type === 'float32' && t.location === 'cpu') feeds[k] = await own.upload(t);
    for (const [rt, key] of [[ref, 'ortMs'], [own, 'ownMs']] as const) {
      const t0 = performance.now();
      let last: Record<string, Tensor> = {};
      for (let r = 0; r < reps; r++) {
        for (const t of Object.values(last)) rt.dispose(t);
        last = await rt.run(g, feeds);
      }
      await rt.readAll(Object.values(last).filter((t) => t.type === 'float32').slice(0, 1));
      line[key] = (performance.now() - t0) / reps;
    }
  }
  lines.push(line);
  console.log(JSON.stringify(line));
  return a;
}

// Reductions of many elements into few outputs (run by parts, then summed): the whole sum of squares, and a mean over rows.
{
  const b = new GraphBuilder('reduce_check');
  const x = b.input('x', 'float32', ['T', 300]);
  b.output(b.reduceSum(b.mul(x, x), [0, 1], false), 'ss');
  b.output(b.op1('ReduceMean', [b.add(x, b.scalar(1, 'float32')), b.ints([0])], { keepdims: 1 }), 'mean');
  const g = b.build();
  await compare(g, feedsFor(g, {}));
}

for (const sparse of [false, true]) {
  const mlpKeep = sparse && o.mlpKeep ? Number(o.mlpKeep) : null;
  const lg = layerGraphs({ cfg, lora, targeted: targetedModules(cfg, lora, 0), sparse, dtype: 'float32', mlpKeep });
  for (const part of ['pre', 'post'] as const) {
    const pg = lg[part];
    const fwdFeeds = feedsFor(pg.forward, {});
    const fwd = await compare(pg.forward, fwdFeeds);
    const given: Record<string, Tensor> = { ...fwd };
    for (const [k, v] of Object.entries(fwdFeeds)) given[k] = v;
    await compare(pg.backward, feedsFor(pg.backward, given));
  }
}
if (o.out) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(o.out, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
}
process.exit(0);

// Where one training step's time goes, per graph (onnxruntime session.run time):
//   npx tsx bench/profile-step.ts [ctx] [node|wasm] [threads, 1] [transient budget MiB, the engine's default]
import { Trainer } from '../src/engine/train/trainer';
import { loadModel } from '../src/engine/model/model';
import { readModelDir } from '../src/cli/files';
import { loraConfig } from '../src/engine/model/lora';
import { Runtime } from '../src/engine/runtime/runtime';
import { loadOrtForNode } from '../src/engine/runtime/ort-node';
const T = Number(process.argv[2] ?? 1024);
const threads = Number(process.argv[4] ?? 1);
const budget = process.argv[5] ? Number(process.argv[5]) * 2 ** 20 : undefined;
const { ort, provider } = await loadOrtForNode(threads, (process.argv[3] ?? 'node') as any);
const rt = new Runtime(ort, { provider, threads, transientBudget: budget });
const runs = new Map<string, number>();
rt.onSample = (s) => runs.set(s.phase, (runs.get(s.phase) ?? 0) + 1);
const model = loadModel(readModelDir('public/models/lemo-tiny'));
const tr = await Trainer.create(rt, model, loraConfig(8, 16, ['q_proj','k_proj','v_proj','o_proj']));
const ids = [Array.from({ length: T }, (_, i) => (i * 37) % 8000)];
await tr.step(ids);
rt.runTime.clear();
runs.clear();
const t0 = performance.now();
await tr.step(ids);
const total = performance.now() - t0;
const rows = [...rt.runTime.entries()].sort((a, b) => b[1] - a[1]);
let inRun = 0; for (const [, v] of rows) inRun += v;
console.log(`T=${T} ${provider} ${threads} threads, transient budget ${budget ? `${budget / 2 ** 20} MiB` : 'default'}: step ${total.toFixed(0)} ms, in session.run ${inRun.toFixed(0)} ms, ${[...runs.values()].reduce((a, b) => a + b, 0)} runs`);
for (const [k, v] of rows) console.log(k.padEnd(40), v.toFixed(0).padStart(7), 'ms', String(runs.get(k) ?? 0).padStart(5), 'runs');

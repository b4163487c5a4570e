// Time of one loss-and-gradient step on a golden fixture, in Node (onnxruntime-web WASM) and in
// Chromium's engine worker (WebGPU, WASM). Not a test: prints a table.
//   npx tsx bench/fixture-step.ts [fixture] [threads]   (default llama-large, 1; starts its own vite server)
// onnxruntime fixes its WASM thread count when it first initialises, so one process measures one count.
import { withHarnessPage } from './browser';
import { Trainer } from '../src/engine/train/trainer';
import { Runtime } from '../src/engine/runtime/runtime';
import { loadOrtForNode } from '../src/engine/runtime/ort-node';
import { readFixture } from '../test/helpers/fixtures';

const name = process.argv[2] ?? 'llama-large';
const dir = `test/fixtures/golden/${name}`;

async function nodeTime(threads: number, backend: 'node' | 'wasm'): Promise<number> {
  const f = readFixture(dir);
  const { ort, provider } = await loadOrtForNode(threads, backend);
  const rt = new Runtime(ort, { provider, threads });
  const trainer = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
  await trainer.lossAndGrads(f.ids);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await trainer.lossAndGrads(f.ids);
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[2];
}

async function browserTimes(): Promise<Record<string, number>> {
  return withHarnessPage(5181, async (page) => {
    const out: Record<string, number> = {};
    for (const provider of ['wasm', 'webgpu']) {
      const r = await page.evaluate(([d, p]) => (window as any).harness.grad(`/${d}`, p), [dir, provider]);
      out[provider] = r.ms;
    }
    return out;
  });
}

const f = readFixture(dir);
const T = f.ids[0].length;
console.log(`fixture ${name}: ${f.model.parameterCount} parameters, batch ${f.ids.length} × ${T} tokens`);
const threads = Number(process.argv[3] ?? 1);
const rows: [string, number][] = [
  [`node, onnxruntime-web wasm, ${threads} thread(s)`, await nodeTime(threads, 'wasm')],
  [`node, onnxruntime-node cpu, ${threads} thread(s)`, await nodeTime(threads, 'node')],
];
const b = await browserTimes();
rows.push(['chromium worker, wasm (2 threads, isolated)', b.wasm], ['chromium worker, webgpu (SwiftShader)', b.webgpu]);
console.log('| runtime | ms per loss+gradient step |\n|---|---|');
for (const [k, v] of rows) console.log(`| ${k} | ${v.toFixed(1)} |`);

// lemo bench inside Chromium's engine worker (default model and data), for a provider:
//   npx tsx bench/browser-bench.ts webgpu 2048 dense,oracle 2 64
// Prints one JSON line per (mode, ctx): the accountant's peak beside the GPU buffer tracker's.
import { withHarnessPage } from './browser';

const [provider = 'webgpu', ctx = '2048', modes = 'dense,oracle', steps = '2', block = '64'] = process.argv.slice(2);
const t0 = Date.now();
const r = await withHarnessPage(5182, (page) =>
  page.evaluate(([p, c, m, s, b]) => (window as any).harness.bench(p, c.split(',').map(Number), m.split(','), Number(s), Number(b)), [provider, ctx, modes, steps, block]),
);
for (const row of r.rows) {
  console.log(JSON.stringify({ provider: r.provider, mode: row.mode, ctx: row.ctx, accountantPeakMB: +(row.peakBytes / 2 ** 20).toFixed(1), gpuBufferPeakMB: row.devicePeakBytes === null ? null : +(row.devicePeakBytes / 2 ** 20).toFixed(1), savedMB: +(row.savedActivationBytes / 2 ** 20).toFixed(1), medianStepMs: Math.round(row.medianStepMs), stepMs: row.stepMs.map(Math.round), loss: row.loss, keptShare: row.keptShare }));
}
console.log(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`);

// lemo bench inside Chromium's engine worker (default model and data), for a provider:
//   npx tsx bench/browser-bench.ts webgpu 2048 dense,oracle 2 64
// Prints one JSON line per (mode, ctx): the accountant's peak beside the GPU buffer tracker's.
import { spawn } from 'node:child_process';
import { chromium } from '@playwright/test';

const [provider = 'webgpu', ctx = '2048', modes = 'dense,oracle', steps = '2', block = '64'] = process.argv.slice(2);
const port = 5182;
const server = spawn('node_modules/.bin/vite', ['--port', String(port), '--strictPort'], { stdio: 'ignore' });
try {
  for (let i = 0; i < 60; i++) {
    try { if ((await fetch(`http://localhost:${port}/e2e/harness.html`)).ok) break; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 500));
  }
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  await page.goto(`http://localhost:${port}/e2e/harness.html`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
  page.setDefaultTimeout(0);
  const t0 = Date.now();
  const r = await page.evaluate(([p, c, m, s, b]) => (window as any).harness.bench(p, c.split(',').map(Number), m.split(','), Number(s), Number(b)), [provider, ctx, modes, steps, block]);
  for (const row of r.rows) {
    console.log(JSON.stringify({ provider: r.provider, mode: row.mode, ctx: row.ctx, accountantPeakMB: +(row.peakBytes / 2 ** 20).toFixed(1), gpuBufferPeakMB: row.devicePeakBytes === null ? null : +(row.devicePeakBytes / 2 ** 20).toFixed(1), savedMB: +(row.savedActivationBytes / 2 ** 20).toFixed(1), medianStepMs: Math.round(row.medianStepMs), stepMs: row.stepMs.map(Math.round), loss: row.loss, keptShare: row.keptShare }));
  }
  console.log(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  await browser.close();
} finally {
  server.kill();
}

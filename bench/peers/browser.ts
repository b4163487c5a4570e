// The browser peers in one Debian Chromium behind one cross-origin-isolated vite server:
// TF.js (wasm, webgpu) on the shared windows, the engine's worker (lemo bench in Chromium),
// and the matmul rates of TF.js and onnxruntime-web. One JSON line per result on stdout.
//   npx tsx bench/peers/browser.ts --windows W.json --ctx 1024,2048 [--steps 3] [--tfjs wasm,webgpu]
//     [--webgpu-ctx 1024] [--webgpu-steps 2] [--engine dense,oracle,lemo] [--engine-steps 2] [--no-matmul] [--port 5183]
//     [--budget-s 240: no further TF.js steps once a run has taken this long] [--cap-s 600: a TF.js run still
//     inside its first step after this long is stopped (its page closed) and reported as not finished]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chromium, type Browser, type Page } from '@playwright/test';

const { values: o } = parseArgs({
  options: {
    windows: { type: 'string', default: '/tmp/peers/windows.json' },
    ctx: { type: 'string', default: '1024,2048,4096' },
    steps: { type: 'string', default: '3' },
    tfjs: { type: 'string', default: 'wasm,webgpu' },
    'webgpu-ctx': { type: 'string', default: '1024' },
    'webgpu-steps': { type: 'string', default: '2' },
    engine: { type: 'string', default: 'dense,oracle,lemo' },
    'engine-steps': { type: 'string', default: '2' },
    'no-matmul': { type: 'boolean', default: false },
    'budget-s': { type: 'string', default: '240' },
    'cap-s': { type: 'string', default: '600' },
    port: { type: 'string', default: process.env.E2E_PORT ?? '5183' },
  },
});
const ctxs = o.ctx!.split(',').map(Number);
const wins = (JSON.parse(readFileSync(o.windows!, 'utf8')) as { windows: { ctx: number; ropeScale: number; ids: number[]; engineLoss: number }[] }).windows;
const emit = (x: unknown) => process.stdout.write(`${JSON.stringify(x)}\n`);
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

const server = spawn('node_modules/.bin/vite', ['--config', 'bench/peers/vite.config.ts', '--port', o.port!, '--strictPort'], { stdio: ['ignore', process.env.PEERS_VITE_LOG ? 'inherit' : 'ignore', 'inherit'] });
let browser: Browser | undefined;
try {
  const origin = `http://localhost:${o.port}`;
  for (let i = 0; i < 120; i++) {
    try { if ((await fetch(`${origin}/bench/peers/tfjs/page.html`)).ok) break; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 500));
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const open = async (path: string): Promise<Page> => {
    const page = await browser!.newPage();
    page.setDefaultTimeout(0);
    page.on('console', (m) => { if (m.type() === 'error') process.stderr.write(`[page] ${m.text()}\n`); });
    page.on('crash', () => process.stderr.write('[page] crashed\n'));
    page.on('response', (r) => { if (r.status() >= 400) process.stderr.write(`[page] ${r.status()} ${r.url()}\n`); });
    // The dev server may reload a page once while it optimizes a dependency it met late: wait it out.
    await page.goto(origin + path, { waitUntil: 'networkidle' });
    await page.waitForTimeout(1000);
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
    return page;
  };
  const peersPage = async () => open('/bench/peers/tfjs/page.html');

  if (!o['no-matmul']) {
    const page = await peersPage();
    emit({ kind: 'matmul', ...(await page.evaluate(() => (window as any).peers.ortWebMatmul(1024, 5))) });
    for (const b of list(o.tfjs!)) {
      try { emit({ kind: 'matmul', ...(await page.evaluate((bk) => (window as any).peers.tfjsMatmul(bk, 1024, 5), b)) }); } catch (e) { emit({ kind: 'matmul', provider: `tfjs ${b} (Chromium)`, error: String(e) }); }
    }
    await page.close();
  }
  // A backend that could not finish a step at one context is not tried at longer ones (its
  // attention tensors grow with the square of the context).
  const failedAt = new Map<string, number>();
  const tfjsStep = async (b: string, ctx: number) => {
    if (failedAt.has(b)) {
      emit({ kind: 'step', peer: 'tfjs', backend: b, ctx, error: `not run: no step finished at ${failedAt.get(b)} tokens` });
      return;
    }
    const w = wins.find((x) => x.ctx === ctx);
    if (!w) throw new Error(`${o.windows} has no window of ${ctx} tokens`);
    // A fresh page per run: nothing of an earlier run (or its failure) stays in the heap.
    const page = await peersPage();
    const t0 = Date.now();
    const capS = Number(o['cap-s']);
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no step finished within ${capS} s (stopped)`)), capS * 1000);
    });
    try {
      const r = await Promise.race([
        page.evaluate(([bk, ids, s, ref, steps, budget]) => (window as any).peers.tfjsStep(bk, ids, s, ref, steps, budget), [b, w.ids, w.ropeScale, w.engineLoss, Number(b === 'webgpu' ? o['webgpu-steps'] : o.steps), Number(o['budget-s']) * 1000] as const),
        cap,
      ]);
      emit({ kind: 'step', ...r, wallS: (Date.now() - t0) / 1000 });
    } catch (e) {
      emit({ kind: 'step', peer: 'tfjs', backend: b, ctx, error: String(e).slice(0, 300), wallS: (Date.now() - t0) / 1000 });
      failedAt.set(b, ctx);
    } finally {
      clearTimeout(timer);
    }
    await page.close().catch(() => {});
  };
  for (const ctx of ctxs) {
    for (const b of list(o.tfjs!)) if (b !== 'webgpu') await tfjsStep(b, ctx);
    const modes = list(o.engine!);
    if (modes.length) {
      let page = await open('/e2e/harness.html');
      const run = () => page.evaluate(([c, m, s]) => (window as any).harness.bench('wasm', [c], m, s, 64), [ctx, modes, Number(o['engine-steps'])] as const);
      let r;
      try {
        r = await run();
      } catch (e) {
        // A reload by the dev server (first visit, a dependency optimized late) ends the run: once more.
        if (!String(e).includes('context was destroyed')) throw e;
        await page.close();
        page = await open('/e2e/harness.html');
        r = await run();
      }
      for (const row of r.rows) emit({ kind: 'step', peer: 'engine', runtime: 'Chromium worker WASM', provider: r.provider, ...row });
      await page.close();
    }
  }
  // WebGPU last: on a CPU fallback (SwiftShader) it is by far the slowest.
  if (list(o.tfjs!).includes('webgpu')) for (const ctx of list(o['webgpu-ctx']!).map(Number)) if (ctxs.includes(ctx)) await tfjsStep('webgpu', ctx);
} finally {
  await browser?.close();
  server.kill();
}

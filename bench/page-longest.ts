// The longest context the studio accepts in one tab, with and without offload: for each offload
// choice and context, the forecast card's verdict (the page refuses a run whose forecast peak
// passes the device's memory or whose largest session run passes WebAssembly's 4 GiB heap), on
// the default model or a picked folder, under the device's memory or a `?memory=GiB` budget.
// With --train, one step at the longest context that only disk offload allows, as a user would
// run it (WASM worker), and that step's memory as the chart records it.
//   npx tsx bench/page-longest.ts --memory 1 --ctx 2048,4096,8192,16384 --mode oracle [--train]
import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import type { Page } from '@playwright/test';
import { launchChromium, serveStudio } from './browser';
import { losses, memorySteps, setUpRun } from '../e2e/helpers/studio';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' }, memory: { type: 'string' }, ctx: { type: 'string', default: '2048,4096,8192,16384,32768' },
    mode: { type: 'string', default: 'oracle' }, offloads: { type: 'string', default: 'none,disk' }, train: { type: 'boolean', default: false },
    port: { type: 'string', default: '5189' },
  },
});
const port = Number(a.port);
const mode = a.mode as 'dense' | 'oracle' | 'lemo';


async function open(page: Page) {
  await page.goto(`http://localhost:${port}/${a.memory ? `?memory=${a.memory}` : ''}`);
  await page.getByTestId('run-state').filter({ hasText: 'idle' }).waitFor();
  if (a.model) {
    await page.getByTestId('model-input').setInputFiles(a.model);
    await page.getByTestId('model-name').filter({ hasText: new RegExp(`^${basename(a.model)}$`) }).waitFor();
  }
}

/** The card's answer for one context and offload choice. */
async function verdict(page: Page, ctx: number, offload: string) {
  await setUpRun(page, { ctx, steps: 1, sparsity: mode });
  await page.getByTestId('offload').selectOption(offload);
  const card = page.locator(`[data-testid=forecast][data-state=ready][data-offload=${offload}]`).filter({ hasText: `${ctx} tokens` });
  await card.waitFor();
  const n = async (k: string) => Number(await card.getAttribute(k));
  return { ctx, offload, refused: (await card.getAttribute('data-refused')) === 'true', peak: await n(mode === 'dense' ? 'data-dense' : 'data-sparse'), run: await n(mode === 'dense' ? 'data-dense-run' : 'data-sparse-run'), budget: await n('data-budget'), heap: await n('data-heap'), verdict: await page.getByTestId('forecast-verdict').innerText() };
}

const stop = await serveStudio(port);
try {
  const browser = await launchChromium();
  const page = await browser.newPage();
  page.setDefaultTimeout(0);
  if (process.env.LOG) {
    page.on('console', (m) => console.error(`page: ${m.text()}`));
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    page.on('crash', () => console.error('page crashed'));
    page.on('worker', (w) => w.on('console', (m) => console.error(`worker: ${m.text()}`)));
  }
  await open(page);
  const rows: Awaited<ReturnType<typeof verdict>>[] = [];
  for (const offload of a.offloads!.split(',')) {
    for (const ctx of a.ctx!.split(',').map(Number)) {
      const r = await verdict(page, ctx, offload);
      rows.push(r);
      console.log(JSON.stringify({ kind: 'verdict', model: a.model ? basename(a.model) : 'default', memory: a.memory ?? null, mode, ...r }));
    }
  }
  const longest = (o: string) => Math.max(0, ...rows.filter((r) => r.offload === o && !r.refused).map((r) => r.ctx));
  console.error(`longest accepted: ${a.offloads!.split(',').map((o) => `${o} ${longest(o)}`).join(', ')}`);
  const target = longest('disk');
  if (a.train && target > longest('none')) {
    await verdict(page, target, 'disk');
    const t0 = Date.now();
    await page.getByTestId('start').click();
    const watch = setInterval(() => {
      void page.getByTestId('run-state').innerText().then((st) => console.error(`${Math.round((Date.now() - t0) / 1000)} s: ${st}`)).catch(() => undefined);
      if (process.env.SHOT) void page.screenshot({ path: process.env.SHOT }).catch(() => undefined);
    }, 30_000);
    const end = await Promise.race([
      page.getByTestId('run-state').filter({ hasText: /^(finished|stopped)$/ }).waitFor().then(() => 'finished'),
      page.getByTestId('error').waitFor().then(() => 'error'),
    ]);
    clearInterval(watch);
    const banner = page.getByTestId('error');
    const error = (await banner.count()) > 0 ? await banner.innerText() : null;
    const mem = error ? [] : await memorySteps(page);
    console.log(JSON.stringify({ kind: 'trained', ctx: target, offload: 'disk', mode, runMs: Date.now() - t0, state: await page.getByTestId('run-state').innerText(), error, losses: error ? [] : await losses(page), memory: mem.at(-1) ?? null }));
  }
  await browser.close();
} finally {
  stop();
}

// A model folder picked on the studio page, as a person would: for each mode, a fresh page loads
// the folder through the model picker, sets the run, reads the forecast card, trains and reads
// the memory chart's per-step summary (the accountant's kinds and the WASM heap or GPU buffers).
//   npx tsx bench/page-model.ts --model /tmp/shapes/smollm2-135m --ctx 4096 --modes oracle,dense --steps 1
// Prints one JSON line per mode. Options: --provider wasm|webgpu, --block N, --offload host,
// --rope-scale S (otherwise the page sets it when the context passes the model's positions).
import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import type { Page } from '@playwright/test';
import { launchChromium, serveStudio } from './browser';
import { memorySteps, losses, setUpRun } from '../e2e/helpers/studio';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' }, ctx: { type: 'string', default: '2048' }, modes: { type: 'string', default: 'oracle,dense' },
    steps: { type: 'string', default: '1' }, provider: { type: 'string', default: 'wasm' }, block: { type: 'string' },
    offload: { type: 'string' }, 'rope-scale': { type: 'string' }, port: { type: 'string', default: '5188' },
  },
});
if (!a.model) throw new Error('--model <folder> is required');
const port = Number(a.port);


async function one(page: Page, mode: 'dense' | 'oracle' | 'lemo') {
  await page.goto(`http://localhost:${port}/`);
  await page.getByTestId('run-state').filter({ hasText: 'idle' }).waitFor();
  if (a.provider === 'webgpu') {
    await page.getByTestId('provider-select').selectOption('webgpu');
    await page.getByTestId('provider').filter({ hasText: 'webgpu' }).waitFor();
  }
  const t0 = Date.now();
  await page.getByTestId('model-input').setInputFiles(a.model!);
  const name = basename(a.model!);
  await Promise.race([
    page.getByTestId('model-name').filter({ hasText: new RegExp(`^${name}$`) }).waitFor(),
    page.getByTestId('error').waitFor().then(async () => { throw new Error(await page.getByTestId('error').innerText()); }),
  ]);
  const loadMs = Date.now() - t0;
  console.error(`${mode}: loaded in ${loadMs} ms`);
  await setUpRun(page, { ctx: Number(a.ctx), steps: Number(a.steps), sparsity: mode, block: a.block ? Number(a.block) : undefined });
  if (a['rope-scale']) await page.getByTestId('rope-scale').fill(a['rope-scale']);
  if (a.offload) await page.getByTestId('offload').selectOption(a.offload);
  // The card shows figures only once the engine's forecast of the settings and model shown has come.
  const card = page.locator('[data-testid=forecast][data-state=ready]');
  await card.filter({ hasText: `${a.ctx} tokens` }).waitFor();
  const forecast = { dense: Number(await card.getAttribute('data-dense')), sparse: Number(await card.getAttribute('data-sparse')), denseRun: Number(await card.getAttribute('data-dense-run')), sparseRun: Number(await card.getAttribute('data-sparse-run')), verdict: await page.getByTestId('forecast-verdict').innerText() };
  const t1 = Date.now();
  console.error(`${mode}: forecast ${JSON.stringify(forecast)}`);
  await page.getByTestId('start').click();
  const end = await Promise.race([
    page.getByTestId('run-state').filter({ hasText: /^(finished|stopped)$/ }).waitFor().then(() => 'finished'),
    page.getByTestId('error').waitFor().then(() => 'error'),
  ]);
  const error = end === 'error' ? await page.getByTestId('error').innerText() : null;
  return { mode, loadMs, runMs: Date.now() - t1, forecast, error, memory: error ? [] : await memorySteps(page), losses: error ? [] : await losses(page) };
}

const stop = await serveStudio(port);
try {
  const browser = await launchChromium();
  try {
    for (const mode of a.modes!.split(',') as ('dense' | 'oracle' | 'lemo')[]) {
      const page = await browser.newPage();
      page.setDefaultTimeout(0);
      const r = await one(page, mode);
      const mb = (x: number) => +(x / 1e6).toFixed(1);
      const last = r.memory.at(-1);
      console.log(JSON.stringify({
        model: basename(a.model), provider: a.provider, ctx: Number(a.ctx), mode, offload: a.offload ?? 'none', loadMs: r.loadMs, runMs: r.runMs,
        forecastDenseMB: mb(r.forecast.dense), forecastSparseMB: mb(r.forecast.sparse), forecastRunMB: mb(mode === 'dense' ? r.forecast.denseRun : r.forecast.sparseRun), verdict: r.forecast.verdict, error: r.error,
        peakMB: last ? mb(Math.max(...r.memory.map((m) => m.totalMax))) : null, weightsMB: last ? mb(last.weights) : null,
        activationsMB: last ? mb(Math.max(...r.memory.map((m) => m.activationsMax))) : null,
        deviceMB: last ? mb(Math.max(...r.memory.map((m) => m.deviceMax))) : null, losses: r.losses, steps: r.memory,
      }));
      await page.close();
    }
  } finally {
    await browser.close();
  }
} finally {
  stop();
}

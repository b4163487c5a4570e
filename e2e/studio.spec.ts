// The studio as a user meets it: open the page, the default model loads, Start runs a few
// steps, the loss lands on the chart; nothing is logged as an error.
import { test, expect } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { evals, losses, memorySteps, openStudio, sparsityLayers } from './helpers/studio';

test('one click fine-tunes the small test model and the loss chart fills', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/?model=lemo-tiny');
  await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');
  await expect(page.getByTestId('run-state')).toHaveText('idle');
  await expect(page.getByTestId('provider')).toContainText('wasm');
  await page.getByTestId('ctx').fill('128');
  await page.getByTestId('steps').fill('3');
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished');
  const losses = (await page.getByTestId('loss-values').locator('li').allTextContents()).map(Number);
  expect(losses).toHaveLength(3);
  const vocab = 8192;
  for (const l of losses) {
    expect(Number.isFinite(l)).toBe(true);
    // A pretrained model starts far below the loss of a uniform guess over the vocabulary.
    expect(l).toBeLessThan(Math.log(vocab));
    expect(l).toBeGreaterThan(0);
  }
  await expect(page.getByTestId('dataset-summary')).toContainText('windows of 128');
  // The default evaluation (every 5 steps, and after the last) ran once, on held-out text.
  const ev = await evals(page);
  expect(ev.map((e) => e.step)).toEqual([3]);
  expect(ev[0].perplexity).toBeGreaterThan(1);
  expect(ev[0].perplexity).toBeLessThan(vocab);
  await page.screenshot({ path: 'test-results/studio.png', fullPage: true });
  expect(errors).toEqual([]);
});

test('Start on a fresh page with the default settings: the default model trains in lemo mode, below its dense baseline', async ({ page }) => {
  const errors = collectErrors(page);
  await openStudio(page, 'wasm', 'lemo-books');
  // The default data's tokens are counted before any run.
  const count = page.getByTestId('dataset-count');
  await expect(count).toHaveAttribute('data-tokens', /^\d+$/);
  expect(Number(await count.getAttribute('data-tokens'))).toBeGreaterThan(100_000);
  await expect(page.getByTestId('ctx')).toHaveValue('2048');
  const t0 = Date.now();
  await page.getByTestId('start').click();
  await expect(page.getByTestId('loss-values').locator('li').first()).toBeAttached();
  const firstLoss = Date.now() - t0;
  await expect(page.getByTestId('memory-steps').locator('li').first()).toBeAttached();
  await expect(page.getByTestId('sparsity-values').locator('li').first()).toBeAttached();
  const allThree = Date.now() - t0;
  const body = page.getByTestId('memory-chart').locator('.memory-body');
  await expect(body).toHaveAttribute('data-baseline', /^\d+/);
  const peak = Number(await body.getAttribute('data-peak'));
  const baseline = Number(await body.getAttribute('data-baseline'));
  console.log(`first dashboard update after Start: loss ${firstLoss} ms, loss+memory+layers ${allThree} ms; peak ${peak} B against the dense baseline ${baseline} B (${(100 * (1 - peak / baseline)).toFixed(1)}% below)`);
  const [l] = await losses(page);
  expect(l).toBeGreaterThan(0);
  expect(l).toBeLessThan(Math.log(8192));
  expect((await memorySteps(page))[0].activationsMax).toBeGreaterThan(0);
  // The model's policy.json eliminates in layers 5-8 and keeps the others dense.
  const layers = await sparsityLayers(page);
  expect(layers.map((r) => r.dense)).toEqual([true, true, true, true, true, false, false, false, false, true]);
  // Token elimination in layers 5-8 and MLP channel sparsity in every layer: at least 35% below dense.
  expect(peak).toBeLessThan(0.65 * baseline);
  await page.getByTestId('stop').click();
  await expect(page.getByTestId('run-state')).toHaveText('stopped');
  expect(errors).toEqual([]);
});

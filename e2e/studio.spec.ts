// The studio as a user meets it: open the page, the default model loads, Start runs a few
// steps, the loss lands on the chart; nothing is logged as an error.
import { test, expect } from '@playwright/test';
import { collectErrors } from './helpers/console';

test('one click fine-tunes the default model and the loss chart fills', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/');
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
  await page.screenshot({ path: 'test-results/studio.png', fullPage: true });
  expect(errors).toEqual([]);
});

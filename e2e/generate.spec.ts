// Try the model: the base model continues a prompt, streamed, and can be stopped; after a short
// fine-tune the adapter's continuation appears beside it, and differs.
import { test, expect } from '@playwright/test';
import { collectErrors } from './helpers/console';

test('the base model continues a prompt and can be stopped; after a fine-tune the adapter continues it differently', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/?model=lemo-tiny');
  await expect(page.getByTestId('run-state')).toHaveText('idle');
  const base = page.getByTestId('generated-base');
  await page.getByTestId('greedy').check();
  await page.getByTestId('max-tokens').fill('24');
  await page.getByTestId('generate').click();
  await expect(base).toHaveAttribute('data-tokens', /^\d+$/);
  expect(Number(await base.getAttribute('data-tokens'))).toBeLessThanOrEqual(24);
  const prompt = 'It was a dark and stormy night';
  const greedyBase = await base.textContent();
  expect(greedyBase!.startsWith(prompt)).toBe(true);
  expect(greedyBase!.length).toBeGreaterThan(prompt.length + 10);
  await expect(page.getByTestId('generated-adapter')).toHaveCount(0);

  // Stop: a long continuation ends early.
  await page.getByTestId('max-tokens').fill('1000');
  await page.getByTestId('generate').click();
  await expect.poll(async () => ((await base.textContent()) ?? '').length).toBeGreaterThan(prompt.length + 20);
  await page.getByTestId('stop-generate').click();
  await expect(base).toHaveAttribute('data-tokens', /^\d+$/);
  expect(Number(await base.getAttribute('data-tokens'))).toBeLessThan(1000);

  // A short, strong fine-tune, then both columns.
  await page.getByTestId('ctx').fill('128');
  await page.getByTestId('steps').fill('6');
  await page.getByTestId('lr').fill('0.02');
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 240_000 });
  await page.getByTestId('max-tokens').fill('24');
  await page.getByTestId('generate').click();
  const adapter = page.getByTestId('generated-adapter');
  await expect(adapter).toHaveAttribute('data-tokens', /^\d+$/);
  expect(await base.textContent()).toBe(greedyBase);
  const tuned = await adapter.textContent();
  expect(tuned!.startsWith(prompt)).toBe(true);
  expect(tuned).not.toBe(greedyBase);
  expect(errors).toEqual([]);
});

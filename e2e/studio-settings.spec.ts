// Every engine setting on the page: the per-layer policy table (edited rows reach the run), the
// MLP channel share and LoRA target modules; values out of range are refused at their field.
import { test, expect } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { openStudio, setUpRun, sparsityLayers } from './helpers/studio';

test('a per-layer policy edited on the page is the run’s policy; out-of-range values are refused at their field', async ({ page }) => {
  const errors = collectErrors(page);
  await openStudio(page);
  await setUpRun(page, { ctx: 128, steps: 1, sparsity: 'oracle', block: 16 });
  // lemo-tiny has no policy.json: the table starts as the paper's default (first half and last layer dense).
  const kinds = () => page.getByTestId('policy-row').evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.kind));
  expect(await kinds()).toEqual(['dense', 'dense', 'dense', 'keep', 'keep', 'dense']);
  await expect(page.getByTestId('policy')).toHaveAttribute('data-source', 'paper');

  // Out of range: one sentence under the field, and Start refuses with it.
  await page.getByTestId('policy-value-3').fill('1.5');
  const problem = page.getByTestId('settings-problem');
  await expect(problem).toHaveText("Layer 3's keep ratio must be above 0 and at most 1 (it is 1.5).");
  await expect(problem).toHaveAttribute('data-field', 'policy');
  await page.getByTestId('policy-value-3').fill('0.4');
  await page.getByTestId('mlp-keep').fill('2');
  await expect(problem).toHaveAttribute('data-field', 'mlp-keep');
  await page.getByTestId('start').click();
  await expect(page.getByTestId('error')).toContainText('The MLP channel share must be above 0 and at most 1 (it is 2)');
  await page.getByTestId('error').getByRole('button', { name: 'dismiss' }).click();
  await page.getByTestId('mlp-keep').fill('0.5');
  await page.getByTestId('target-modules').fill('q_proj, v proj!');
  await expect(problem).toHaveAttribute('data-field', 'target-modules');
  await page.getByTestId('target-modules').fill('q_proj, v_proj');
  await expect(problem).toHaveCount(0);

  // Layer 1 keeps half its blocks, layer 4 every token.
  await page.getByTestId('policy-kind-1').selectOption('keep');
  await page.getByTestId('policy-value-1').fill('0.5');
  await page.getByTestId('policy-kind-4').selectOption('dense');
  await expect(page.getByTestId('policy')).toHaveAttribute('data-source', 'settings');
  expect(await kinds()).toEqual(['dense', 'keep', 'dense', 'keep', 'dense', 'dense']);

  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 300_000 });
  const layers = await sparsityLayers(page);
  const blocks = 128 / 16;
  expect(layers.map((l) => l.dense)).toEqual([true, false, true, false, true, true]);
  expect(layers[1].kept).toBe(Math.ceil(0.5 * blocks));
  expect(layers[3].kept).toBe(Math.ceil(0.4 * blocks));

  // Reset goes back to the default policy.
  await page.getByTestId('policy-reset').click();
  expect(await kinds()).toEqual(['dense', 'dense', 'dense', 'keep', 'keep', 'dense']);
  expect(errors).toEqual([]);
});

// Runs kept and compared: each run is listed with its settings, final loss and peak memory,
// overlaid on the loss and memory charts when checked; "Compare with dense" runs the same
// settings densely beside it, and a reload keeps the list.
import { test, expect, type Page } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { openStudio, setUpRun } from './helpers/studio';

async function runRows(page: Page) {
  return page.getByTestId('run-row').evaluateAll((trs) => trs.map((tr) => {
    const d = (tr as HTMLElement).dataset;
    return { id: d.run!, mode: d.mode!, peak: Number(d.peak), checked: d.checked === 'true' };
  }));
}

const seriesIds = (page: Page, list: string) =>
  page.getByTestId(list).locator('li').evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.run!));

test('a lemo run and its dense comparison are listed, overlaid on the charts, with peak memories side by side, and kept across a reload', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/?model=lemo-tiny');
  // A list left by an earlier test in this browser profile does not count.
  await page.evaluate(() => localStorage.removeItem('lemo-studio-runs'));
  await openStudio(page);
  await setUpRun(page, { ctx: 128, steps: 2, sparsity: 'lemo', evalEvery: 2, evalChunks: 1 });
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 600_000 });
  await expect(page.getByTestId('run-row')).toHaveCount(1);

  await page.getByTestId('run-row').first().getByTestId('compare-dense').click();
  await expect(page.getByTestId('run-row')).toHaveCount(2);
  await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 600_000 });
  // The page's own settings stay as they were: the comparison ran densely beside them.
  await expect(page.getByTestId('sparsity-select')).toHaveValue('lemo');

  const rows = await runRows(page);
  expect(rows.map((r) => r.mode)).toEqual(['lemo', 'dense']);
  expect(rows.every((r) => r.checked)).toBe(true);
  const [lemo, dense] = rows;
  expect(lemo.peak).toBeGreaterThan(0);
  expect(lemo.peak).toBeLessThan(dense.peak);
  await expect(page.getByTestId('run-peak')).toHaveCount(2);

  // One series per checked run on the loss and memory charts, with a legend naming each.
  await expect.poll(() => seriesIds(page, 'loss-runs')).toEqual([lemo.id, dense.id]);
  await expect.poll(() => seriesIds(page, 'memory-runs')).toEqual([lemo.id, dense.id]);
  await expect(page.getByTestId('loss-chart').locator('.recharts-legend-item')).toHaveCount(2);
  await expect(page.getByTestId('loss-runs').locator('li').first()).toHaveAttribute('data-evals', '1');

  // Unchecking a run takes its series off the charts.
  await page.getByTestId('run-row').nth(1).getByTestId('run-show').uncheck();
  await expect.poll(() => seriesIds(page, 'loss-runs')).toEqual([lemo.id]);
  await expect.poll(() => seriesIds(page, 'memory-runs')).toEqual([lemo.id]);
  await page.getByTestId('run-row').nth(1).getByTestId('run-show').check();

  await page.reload();
  await expect(page.getByTestId('run-state')).toHaveText('idle', { timeout: 120_000 });
  expect(await runRows(page)).toEqual(rows);
  await expect.poll(() => seriesIds(page, 'loss-runs')).toEqual([lemo.id, dense.id]);
  await expect.poll(() => seriesIds(page, 'memory-runs')).toEqual([lemo.id, dense.id]);
  await expect(page.getByTestId('loss-runs').locator('li').first()).toHaveAttribute('data-steps', '2');

  // A deleted run is gone, also after a reload.
  await page.getByTestId('run-row').nth(1).getByTestId('run-delete').click();
  await expect(page.getByTestId('run-row')).toHaveCount(1);
  await page.reload();
  await expect(page.getByTestId('run-row')).toHaveCount(1);
  expect(errors).toEqual([]);
});

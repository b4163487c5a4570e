// The page's small things: on a phone-wide screen nothing scrolls sideways, the charts' axis
// ticks stay inside their plots, and the time left says "evaluating…" during the final evaluation.
import { test, expect, type Page } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { expectNoSidewaysScroll, losses, openStudio, setUpRun } from './helpers/studio';

/** Tick labels of a chart's y axes that reach beyond the left edge of their chart. */
function clippedTicks(page: Page, chart: string): Promise<string[]> {
  return page.getByTestId(chart).locator('svg.recharts-surface:has(.recharts-yAxis-tick-labels)').first().evaluate((svg) => {
    const left = svg.getBoundingClientRect().left;
    const ticks = [...svg.querySelectorAll('.recharts-yAxis-tick-labels .recharts-cartesian-axis-tick-value')];
    if (ticks.length === 0) return ['no y ticks drawn'];
    return ticks
      .filter((t) => t.getBoundingClientRect().left < left - 0.5)
      .map((t) => t.textContent ?? '');
  });
}

test('at 390 px wide the page stacks and never scrolls sideways; ticks are not clipped; the last evaluation shows as evaluating', async ({ page }) => {
  const errors = collectErrors(page);
  await page.setViewportSize({ width: 390, height: 800 });
  await openStudio(page);
  await expectNoSidewaysScroll(page);

  // Many held-out chunks: the evaluation after the last step takes a while.
  await setUpRun(page, { ctx: 256, steps: 3, sparsity: 'dense', evalEvery: 3, evalChunks: 48 });
  await page.getByTestId('start').click();
  await expect(page.getByTestId('time-left')).toHaveText('evaluating…', { timeout: 300_000 });
  await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 300_000 });
  await expect(page.getByTestId('time-left')).toHaveText('done');
  await expect(page.getByTestId('memory-chart').locator('.recharts-area').first()).toBeAttached();
  await expectNoSidewaysScroll(page);
  expect(await clippedTicks(page, 'loss-chart')).toEqual([]);
  expect(await clippedTicks(page, 'memory-chart')).toEqual([]);

  // Smoothing draws the training loss's moving average over the faint raw curve; the y axis can go log.
  const raw = await losses(page);
  expect(raw).toHaveLength(3);
  await expect(page.getByTestId('loss-smoothed').locator('li')).toHaveCount(0);
  await page.getByTestId('loss-smoothing').fill('0.5');
  await expect(page.getByTestId('loss-smoothed').locator('li')).toHaveCount(3);
  const smoothed = (await page.getByTestId('loss-smoothed').locator('li').allTextContents()).map(Number);
  let acc = 0;
  let w = 0;
  const expected = raw.map((v) => { acc = 0.5 * acc + 0.5 * v; w = 0.5 * w + 0.5; return acc / w; });
  smoothed.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 9));
  await expect(page.getByTestId('loss-chart').locator('.recharts-line')).toHaveCount(3);
  await page.getByTestId('loss-scale-log').click();
  await expect(page.getByTestId('loss-chart').locator('.plot')).toHaveAttribute('data-scale', 'log');
  await expect(page.getByTestId('loss-chart').locator('.recharts-yAxis-tick-labels .recharts-cartesian-axis-tick-value').first()).toBeAttached();
  await expectNoSidewaysScroll(page);
  expect(errors).toEqual([]);
});

// The page's small things: on a phone-wide screen nothing scrolls sideways, the charts' axis
// ticks stay inside their plots, and the time left says "evaluating…" during the final evaluation.
import { test, expect, type Page } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { openStudio, setUpRun } from './helpers/studio';

/** Tick labels of a chart's y axes that reach beyond the left edge of their chart. */
function clippedTicks(page: Page, chart: string): Promise<string[]> {
  return page.getByTestId(chart).locator('svg.recharts-surface').first().evaluate((svg) => {
    const left = svg.getBoundingClientRect().left;
    return [...svg.querySelectorAll('.recharts-yAxis .recharts-cartesian-axis-tick-value')]
      .filter((t) => t.getBoundingClientRect().left < left - 0.5)
      .map((t) => t.textContent ?? '');
  });
}

test('at 390 px wide the page stacks and never scrolls sideways; ticks are not clipped; the last evaluation shows as evaluating', async ({ page }) => {
  const errors = collectErrors(page);
  await page.setViewportSize({ width: 390, height: 800 });
  await openStudio(page);
  const sideways = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(await sideways()).toBeLessThanOrEqual(0);

  // Many held-out chunks: the evaluation after the only step takes a while.
  await setUpRun(page, { ctx: 256, steps: 1, sparsity: 'dense', evalEvery: 1, evalChunks: 48 });
  await page.getByTestId('start').click();
  await expect(page.getByTestId('time-left')).toHaveText('evaluating…', { timeout: 300_000 });
  await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 300_000 });
  await expect(page.getByTestId('time-left')).toHaveText('done');
  await expect(page.getByTestId('memory-chart').locator('.recharts-area').first()).toBeAttached();
  expect(await sideways()).toBeLessThanOrEqual(0);
  expect(await clippedTicks(page, 'loss-chart')).toEqual([]);
  expect(await clippedTicks(page, 'memory-chart')).toEqual([]);
  expect(errors).toEqual([]);
});

// Readable curves: the learning rate and the gradient norm of each step have their own charts,
// and the loss, memory and step charts zoom on the x axis by dragging across them ("reset
// zoom" or a double-click shows the whole run again).
import { test, expect, type Locator, type Page } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { expectNoSidewaysScroll, openStudio, setUpRun } from './helpers/studio';
import { scheduleFactor } from '../src/engine/train/adamw';

/** Drags the mouse across a chart from one x (page pixels) to another, at mid-height. */
async function dragAcross(page: Page, area: Locator, fromX: number, toX: number): Promise<void> {
  const box = (await area.boundingBox())!;
  const y = box.y + box.height / 2;
  await page.mouse.move(fromX, y);
  await page.mouse.down();
  await page.mouse.move((fromX + toX) / 2, y, { steps: 4 });
  await page.mouse.move(toX, y, { steps: 4 });
  await page.mouse.up();
}

/** The page x of each dot of a chart's first line, in step order. */
async function dotXs(chart: Locator): Promise<number[]> {
  const dots = chart.locator('.recharts-line-dots').first().locator('circle');
  const boxes = await dots.evaluateAll((cs) => cs.map((c) => { const r = c.getBoundingClientRect(); return r.left + r.width / 2; }));
  return boxes.sort((a, b) => a - b);
}

const tickTexts = (chart: Locator) => chart.locator('.recharts-xAxis-tick-labels .recharts-cartesian-axis-tick-value').allTextContents();

test('the learning rate and gradient norm per step are drawn; dragging across a chart zooms it, reset shows the whole run', async ({ page }) => {
  const errors = collectErrors(page);
  await openStudio(page);
  await setUpRun(page, { ctx: 128, steps: 3, sparsity: 'dense' });
  await page.getByTestId('lr').fill('0.002');
  await page.getByTestId('schedule').selectOption('cosine');
  await page.getByTestId('warmup').fill('1');
  await expect(page.getByTestId('lr-chart')).toContainText('appears here once a run starts');
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 300_000 });

  // The rate each update used: 0 in the warm-up's step, then the cosine from the peak.
  const values = (id: string) => page.getByTestId(`${id}-values`).locator('li').evaluateAll((lis) => lis.map((li) => Number((li as HTMLElement).dataset.value)));
  const lr = await values('lr-chart');
  expect(lr).toHaveLength(3);
  lr.forEach((v, i) => expect(v).toBeCloseTo(0.002 * scheduleFactor('cosine', 1, 3, i + 1), 9));
  expect(lr[0]).toBe(0);
  await expect(page.getByTestId('lr-chart-last')).toHaveText('0.00100');
  const norms = await values('grad-norm-chart');
  expect(norms).toHaveLength(3);
  for (const n of norms) expect(n).toBeGreaterThan(0);
  await expect(page.getByTestId('grad-norm-chart').locator('.recharts-line-dots circle')).toHaveCount(3);

  // Loss: drag from just after step 2 to just before step 3; the x axis then shows steps 2 to 3 alone.
  const loss = page.getByTestId('loss-chart');
  const lossArea = page.getByTestId('loss-zoom-area');
  await expect(loss.locator('.recharts-line-dots').first().locator('circle')).toHaveCount(3);
  expect(await tickTexts(loss)).toContain('1');
  const [, x2, x3] = await dotXs(loss);
  await dragAcross(page, lossArea, x2 + 3, x3 - 3);
  await expect(loss.locator('.plot')).toHaveAttribute('data-zoom', '2-3');
  await expect(page.getByTestId('loss-zoom-reset')).toHaveText('reset zoom (steps 2–3)');
  await expect.poll(() => tickTexts(loss)).toEqual(['2', '3']);
  await page.getByTestId('loss-zoom-reset').click();
  await expect(loss.locator('.plot')).toHaveAttribute('data-zoom', '');
  await expect(page.getByTestId('loss-zoom-reset')).toHaveCount(0);
  await expect.poll(() => tickTexts(loss)).toContain('1');

  // A click is not a drag: nothing zooms.
  await page.mouse.click(x2 + 3, ((await lossArea.boundingBox())!.y + 100));
  await expect(loss.locator('.plot')).toHaveAttribute('data-zoom', '');

  // Memory: the middle of the run, drawn from its own samples; a double-click shows everything again.
  const memory = page.getByTestId('memory-chart').locator('.plot');
  const all = Number(await memory.getAttribute('data-drawn'));
  await page.getByTestId('memory-zoom-area').scrollIntoViewIfNeeded();
  const mbox = (await page.getByTestId('memory-zoom-area').boundingBox())!;
  await dragAcross(page, page.getByTestId('memory-zoom-area'), mbox.x + mbox.width * 0.4, mbox.x + mbox.width * 0.6);
  await expect(memory).toHaveAttribute('data-zoom', /^[\d.]+-[\d.]+$/);
  const [from, to] = (await memory.getAttribute('data-zoom'))!.split('-').map(Number);
  expect(to).toBeGreaterThan(from);
  await expect(page.getByTestId('memory-zoom-reset')).toContainText('reset zoom (s ');
  expect(Number(await memory.getAttribute('data-drawn'))).toBeLessThan(all);
  await page.getByTestId('memory-zoom-area').dblclick();
  await expect(memory).toHaveAttribute('data-zoom', '');
  expect(Number(await memory.getAttribute('data-drawn'))).toBe(all);

  // The learning-rate chart zooms the same way; at 390 px wide, zoomed, nothing scrolls sideways.
  const lrChart = page.getByTestId('lr-chart');
  await lrChart.scrollIntoViewIfNeeded();
  const [l1, l2] = await dotXs(lrChart);
  await dragAcross(page, page.getByTestId('lr-chart-zoom-area'), l1 + 3, l2 - 3);
  await expect(lrChart.locator('.plot')).toHaveAttribute('data-zoom', '1-2');
  await page.setViewportSize({ width: 390, height: 800 });
  await expect(page.getByTestId('lr-chart-zoom-reset')).toBeVisible();
  await expectNoSidewaysScroll(page);
  expect(errors).toEqual([]);
});

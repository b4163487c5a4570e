// The run page's dashboards in a real browser, under WASM: a dropped file trains, and the loss,
// memory and per-layer panels plot numbers that are checked here (read from the charts' hidden
// lists); pause holds the run, stop ends it; the page answers input while a step runs; charts
// export. The same checks under WebGPU: e2e/studio-webgpu.spec.ts.
import { test, expect } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { dashboardsRun, longStep } from './helpers/flows';
import { losses, openStudio, setUpRun, shownStep } from './helpers/studio';

test('a dropped file trains; loss, held-out perplexity, memory and per-layer panels plot checked numbers; charts export', async ({ page }) => {
  await openStudio(page, 'wasm');
  await dashboardsRun(page, 'wasm');
});

// The run loop's pause, resume and stop are the same whichever provider computes (under the
// CPU's WebGPU emulation the same test took close to a minute): WASM alone.
test('pause holds the run, resume continues it, stop ends it before the last step', async ({ page }) => {
  const errors = collectErrors(page);
  await openStudio(page, 'wasm');
  // Far more steps than the test lets run, so the run cannot end before Pause reaches it on a quiet machine.
  const steps = 300;
  await setUpRun(page, { ctx: 128, steps, block: 16 });
  await page.getByTestId('start').click();
  await expect.poll(() => shownStep(page)).toBeGreaterThanOrEqual(1);
  await page.getByTestId('pause').click();
  // Pausing (shown as pending until the engine confirms) or paused: no second pause.
  await expect(page.getByTestId('pause')).toBeDisabled();
  // The step in flight finishes; then the run holds.
  await expect(page.getByTestId('run-state')).toHaveText('paused', { timeout: 20_000 });
  const held = await shownStep(page);
  // Elapsed time stops while the run is paused.
  const elapsedPaused = await page.getByTestId('elapsed').innerText();
  await page.waitForTimeout(3000);
  expect(await shownStep(page)).toBe(held);
  await expect(page.getByTestId('elapsed')).toHaveText(elapsedPaused);
  expect(await losses(page)).toHaveLength(held);
  await page.getByTestId('resume').click();
  await expect(page.getByTestId('run-state')).toHaveText('running');
  await expect.poll(() => shownStep(page)).toBeGreaterThan(held);
  await page.getByTestId('stop').click();
  await expect(page.getByTestId('run-state')).toHaveText('stopped');
  const last = await shownStep(page);
  expect(last).toBeLessThan(steps);
  expect(await losses(page)).toHaveLength(last);
  await expect(page.getByTestId('start')).toBeEnabled();
  // Elapsed time stops with the run.
  const elapsed = await page.getByTestId('elapsed').innerText();
  await page.waitForTimeout(1100);
  await expect(page.getByTestId('elapsed')).toHaveText(elapsed);
  expect(errors).toEqual([]);
});

test('while a long step runs in the worker, the page keeps drawing and answers a click at once; a dense run says so', async ({ page }) => {
  await openStudio(page, 'wasm');
  await longStep(page, 'wasm');
});

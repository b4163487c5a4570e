// The studio's dashboards, lemo run and responsiveness under WebGPU (SwiftShader here), one after
// another in one page: its engine worker compiles onnxruntime's kernels once for the three runs
// (a fresh page for each spent most of its two to four minutes compiling the same kernels again).
// Each step is the check its WASM test makes (e2e/studio-dashboards.spec.ts, e2e/studio-lemo.spec.ts).
import { test, type Page } from '@playwright/test';
import { dashboardsRun, lemoRun, longStep } from './helpers/flows';
import { openStudio } from './helpers/studio';

/** Takes the runs before off the charts, which would otherwise compare them with the next. */
async function hideEarlierRuns(page: Page): Promise<void> {
  for (const box of await page.getByTestId('run-show').all()) await box.uncheck();
}

test('webgpu: a dropped file trains with its panels checked and charts exported; a lemo run plots recall per layer; the page answers a click during a long dense step', async ({ page }) => {
  await openStudio(page, 'webgpu');
  await test.step('dashboards', () => dashboardsRun(page, 'webgpu'));
  await test.step('lemo run', () => lemoRun(page, 'webgpu'));
  await hideEarlierRuns(page);
  await test.step('a long step', () => longStep(page, 'webgpu'));
});

// Choosing WebGPU in a browser that offers no WebGPU adapter: the engine running now says so, the
// provider choice returns to the one in use, and the finished run (its losses, its export) stays.
import { test, expect } from '@playwright/test';
import { bannerText, collectErrors } from './helpers/console';
import { losses, openStudio, setUpRun } from './helpers/studio';

// The configuration's browser, less --enable-unsafe-webgpu: Chromium on Linux then has no WebGPU adapter.
test.use({
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  },
});

test('WebGPU where there is none: the choice returns to the provider in use and the finished run stays', async ({ page }) => {
  const errors = collectErrors(page);
  await openStudio(page);
  const adapter = await page.evaluate(async () => {
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    return gpu ? (await gpu.requestAdapter()) !== null : false;
  });
  expect(adapter, 'this browser must offer no WebGPU adapter').toBe(false);
  const choice = await page.getByTestId('provider-select').inputValue();
  await setUpRun(page, { ctx: 64, steps: 2, sparsity: 'dense' });
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished');
  const before = await losses(page);

  await page.getByTestId('provider-select').selectOption('webgpu');
  await expect(page.getByTestId('error')).toHaveText(bannerText('WebGPU was asked for, but this browser offers no WebGPU adapter; the engine stays on wasm.'));
  await expect(page.getByTestId('provider-select')).toHaveValue(choice);
  await expect(page.getByTestId('provider')).toContainText('wasm');
  await expect(page.getByTestId('run-state')).toHaveText('finished');
  expect(await losses(page)).toEqual(before);
  // The engine that trained the run is the one still running: its adapter downloads.
  const download = page.waitForEvent('download');
  await page.getByTestId('export-adapter').click();
  expect((await download).suggestedFilename()).toBe('lemo-tiny-lora.zip');
  expect(errors).toEqual([]);
});

// Host offload from the page: the settings field, the same losses as without it, and the memory
// chart's offloaded kind.
import { test, expect, type Page } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { losses, memorySteps, openStudio, setUpRun, SMALL_RUN, type Provider } from './helpers/studio';

async function run(page: Page, provider: Provider, offload: 'none' | 'host'): Promise<number[]> {
  await setUpRun(page, { ctx: SMALL_RUN[provider].ctx, steps: 2, sparsity: 'dense' });
  await page.getByTestId('offload').selectOption(offload);
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 300_000 });
  return losses(page);
}

// Under WebGPU, e2e/kernels.spec.ts checks an offloaded step's loss, its reads back and that it leaves no GPU buffer behind.
for (const provider of ['wasm'] as const) {
  test(`host offload trains with the same losses and draws offloaded activations as their own kind (${provider})`, async ({ page }) => {
    const errors = collectErrors(page);
    await openStudio(page, provider);
    await expect(page.getByTestId('offload')).toHaveValue('none');
    expect(await page.getByTestId('offload').locator('option').allTextContents()).toEqual(['none', 'host memory', 'disk (browser storage)']);
    const plain = await run(page, provider, 'none');
    expect((await memorySteps(page)).every((s) => s.offloadedMax === 0)).toBe(true);
    const offloaded = await run(page, provider, 'host');
    expect(offloaded).toHaveLength(2);
    offloaded.forEach((l, i) => expect(Math.abs(l - plain[i])).toBeLessThanOrEqual(1e-6 * Math.abs(plain[i])));
    const steps = await memorySteps(page);
    expect(steps.some((s) => s.offloadedMax > 0)).toBe(true);
    await expect(page.getByTestId('memory-chart')).toContainText('offloaded activations (host memory)');
    expect(errors).toEqual([]);
  });
}

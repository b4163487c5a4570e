// Disk offload from the page: saved activations wait in the browser's storage (OPFS) between each
// layer's forward and backward. Same losses as without it, files written during the run and gone
// after it, a context the tab's budget refuses without it accepted with it, and a storage that
// fills up mid-run stops the run keeping the adapter trained so far.
import { test, expect, type Page } from '@playwright/test';
import { bannerText, collectErrors } from './helpers/console';
import { losses, memorySteps, openStudio, setUpRun, shownStep } from './helpers/studio';

/** Names at the top of this origin's private file system. */
const opfsNames = (page: Page) => page.evaluate(async () => {
  const root = await navigator.storage.getDirectory();
  const names: string[] = [];
  for await (const name of (root as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
  return names.sort();
});

async function train(page: Page, ctx: number, offload: 'none' | 'disk'): Promise<number[]> {
  await setUpRun(page, { ctx, steps: 2, sparsity: 'dense' });
  await page.getByTestId('offload').selectOption(offload);
  await expect(page.getByTestId('forecast')).toHaveAttribute('data-offload', offload);
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 120_000 });
  return losses(page);
}

test('disk offload trains with the same losses through the browser’s storage, removes its files, fits a context the budget refuses without it, and stops keeping the adapter when the storage fills up', async ({ page }) => {
  const errors = collectErrors(page);
  // About 37 MB for the page: lemo-tiny's dense step fits at 64 tokens, at 128 only with disk offload.
  await openStudio(page, 'wasm', 'lemo-tiny', 'memory=0.035');
  expect(await page.getByTestId('offload').locator('option').allTextContents()).toEqual(['none', 'host memory', 'disk (browser storage)']);
  // A folder left by a tab that crashed mid-run, and one of a run going in another tab (it holds the folder's lock).
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    for (const name of ['lemo-offload-crashed', 'lemo-offload-live']) await (await root.getDirectoryHandle(name, { create: true })).getFileHandle('0-0-0', { create: true });
    void navigator.locks.request('lemo-offload-live', () => new Promise<void>((release) => ((window as unknown as { releaseLive: () => void }).releaseLive = release)));
  });

  const plain = await train(page, 64, 'none');
  expect((await memorySteps(page)).every((s) => s.storedMax === 0)).toBe(true);
  const offloaded = await train(page, 64, 'disk');
  expect(offloaded).toHaveLength(2);
  expect(offloaded).toEqual(plain);
  // Every step wrote its saved activations to the browser's storage, drawn apart from memory.
  expect((await memorySteps(page)).every((s) => s.storedMax > 0)).toBe(true);
  await expect(page.getByTestId('stored-row')).toContainText('offloaded activations (browser storage, not memory)');
  // The run's folder is gone, and the crashed tab's with it; the other tab's run keeps its own.
  expect((await opfsNames(page)).filter((n) => n.startsWith('lemo-offload-'))).toEqual(['lemo-offload-live']);
  await page.evaluate(() => (window as unknown as { releaseLive: () => void }).releaseLive());

  // 128 tokens: refused without offload, naming disk offload; the forecast with it fits, and the run trains.
  await page.getByTestId('offload').selectOption('none');
  await page.getByTestId('ctx').fill('128');
  const card = page.getByTestId('forecast');
  await expect(card).toHaveAttribute('data-refused', 'true');
  await expect(page.getByTestId('forecast-verdict')).toHaveText(/^Start is refused: A dense run of 1 × 128 tokens would peak at about 0\.04 GiB .*; with its saved activations offloaded to disk it would take about 0\.03 GiB: choose offload to disk, or lower the batch or the context\.$/);
  const withDisk = await train(page, 128, 'disk');
  expect(withDisk).toHaveLength(2);
  await expect(card).toHaveAttribute('data-refused', 'false');
  expect(Number(await card.getAttribute('data-dense'))).toBeLessThan(0.035 * 2 ** 30);
  await expect(card.getByTestId('forecast-stored')).toContainText('in browser storage (not memory)');

  // The storage fills up mid-run (this origin's quota cut to nothing while the run is paused):
  // the run stops with the sentence, and the adapter of the steps done stays exportable.
  await setUpRun(page, { ctx: 128, steps: 300, sparsity: 'dense' });
  await page.getByTestId('start').click();
  await expect.poll(() => shownStep(page)).toBeGreaterThanOrEqual(1);
  await page.getByTestId('pause').click();
  await expect(page.getByTestId('run-state')).toHaveText('paused', { timeout: 20_000 });
  const done = await shownStep(page);
  const cdp = await page.context().newCDPSession(page);
  const origin = new URL(page.url()).origin;
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 1 });
  try {
    await page.getByTestId('resume').click();
    await expect(page.getByTestId('run-state')).toHaveText('stopped');
  } finally {
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
  }
  await expect(page.getByTestId('error')).toHaveText(bannerText(`Training stopped at step ${done + 1} because the browser's storage has no room left for the saved activations offloaded to disk: free browser storage (other sites' data, in the browser's settings), or choose host memory or none for Offload activations.`));
  expect(await losses(page)).toHaveLength(done);
  const download = page.waitForEvent('download');
  await page.getByTestId('export-adapter').click();
  expect((await download).suggestedFilename()).toBe('lemo-tiny-lora.zip');
  expect((await opfsNames(page)).filter((n) => n.startsWith('lemo-offload-'))).toEqual([]);
  expect(errors).toEqual([]);
});

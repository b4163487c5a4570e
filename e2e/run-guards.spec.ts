// What the page refuses while a run is set up or going, with a sentence naming what to change:
// settings no run can use (no steps, a learning rate of 0 or far too large, a context that is not
// a whole number of blocks), and other data dropped during a run. The run already trained, or the
// one going, stays as it was.
import { test, expect, type Page } from '@playwright/test';
import { bannerText, collectErrors } from './helpers/console';
import { dropFiles } from './helpers/drop';
import { losses, openStudio, setUpRun } from './helpers/studio';

/** Start is refused with this sentence (shown in the form too), and the finished run is untouched. */
async function refused(page: Page, sentence: string, before: number[]): Promise<void> {
  await expect(page.getByTestId('settings-problem')).toHaveText(sentence);
  await page.getByTestId('start').click();
  await expect(page.getByTestId('error')).toHaveText(bannerText(sentence));
  await expect(page.getByTestId('run-state')).toHaveText('finished');
  expect(await losses(page)).toEqual(before);
  await expect(page.getByTestId('export-adapter')).toBeEnabled();
  await page.getByRole('button', { name: 'dismiss' }).click();
}

test('settings no run can use are refused with a sentence, and the finished run stays', async ({ page }) => {
  const errors = collectErrors(page);
  await openStudio(page);
  await setUpRun(page, { ctx: 64, steps: 2, sparsity: 'oracle', block: 16 });
  await expect(page.getByTestId('settings-problem')).toHaveCount(0);
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished');
  const before = await losses(page);
  expect(before).toHaveLength(2);

  await page.getByTestId('steps').fill('0');
  await refused(page, 'Steps must be a whole number of at least 1 (it is 0): set how many optimizer steps the run takes.', before);
  await page.getByTestId('steps').fill('2');
  await page.getByTestId('ctx').fill('100');
  await refused(page, 'A context of 100 tokens is not a whole number of 16-token blocks: use a multiple of 16, such as 96 or 112.', before);
  await page.getByTestId('ctx').fill('64');
  await page.getByTestId('lr').fill('1000');
  await refused(page, 'A learning rate of 1000 is far too large (the run would diverge at once): use one of at most 1, such as 0.001.', before);
  await page.getByTestId('lr').fill('0');
  await refused(page, 'The learning rate must be above 0 (it is 0); 0.001 is a good start.', before);

  // Put right, the settings run again.
  await page.getByTestId('lr').fill('0.001');
  await expect(page.getByTestId('settings-problem')).toHaveCount(0);
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished');
  expect(await losses(page)).toHaveLength(2);
  expect(errors).toEqual([]);
});

test('data dropped during a run is refused, and the dataset card keeps the data the run trains on', async ({ page }) => {
  const errors = collectErrors(page);
  await openStudio(page);
  // Long enough that the run is still going when the file is dropped; the test stops it.
  await setUpRun(page, { ctx: 64, steps: 300, sparsity: 'dense' });
  const files = await page.getByTestId('data-files').innerText();
  await page.getByTestId('start').click();
  await expect(page.getByTestId('dataset-summary')).toBeVisible();
  const summary = await page.getByTestId('dataset-summary').innerText();
  await expect(page.getByTestId('run-state')).toHaveText('running');

  const other = { name: 'other.txt', text: 'Another text altogether, dropped while the run trains on the books.\n'.repeat(40) };
  await dropFiles(page.getByTestId('drop-zone'), [other]);
  await expect(page.getByTestId('error')).toHaveText(bannerText('Stop the run (or let it finish) before dropping other data: it trains on the files shown.'));
  expect(await page.getByTestId('data-files').innerText()).toBe(files);
  expect(await page.getByTestId('dataset-summary').innerText()).toBe(summary);
  await expect(page.getByTestId('run-state')).toHaveText('running');

  await page.getByTestId('stop').click();
  await expect(page.getByTestId('run-state')).toHaveText('stopped');
  expect(await page.getByTestId('data-files').innerText()).toBe(files);
  // Once the run has ended, the same file is taken.
  await page.getByRole('button', { name: 'dismiss' }).click();
  await dropFiles(page.getByTestId('drop-zone'), [other]);
  await expect(page.getByTestId('data-files')).toContainText('other.txt');
  await expect(page.getByTestId('error')).toHaveCount(0);
  expect(errors).toEqual([]);
});

// The dataset card as a practitioner uses it: dropped files listed with their token counts and
// a first look at their text, each removable, a way back to the default data; and a held-out
// file of one's own, dropped on the held-out slot, which the run's perplexity is measured on.
import { test, expect, type Locator, type Page } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { dropFiles } from './helpers/drop';
import { evals, expectNoSidewaysScroll, openStudio, setUpRun } from './helpers/studio';

const story = 'The lighthouse keeper climbed the spiral stairs every evening, counting the steps aloud. ';
const A = { name: 'keeper-notes-from-the-lighthouse-on-the-northern-cape.txt', text: story.repeat(12) };
const B = { name: 'letters.jsonl', text: `${JSON.stringify({ text: 'Dear Margaret, the storm has passed.' })}\n${JSON.stringify({ text: 'Dear Thomas, the boats are home.' })}\n` };
const C = { name: 'log.md', text: '# Log\n\nWind from the north, then rain.\n' };

interface Entry { name: string; tokens: number; documents: number; bytes: number }

function entries(list: Locator): Promise<Entry[]> {
  return list.locator(':scope > li').evaluateAll((lis) => lis.map((li) => {
    const d = (li as HTMLElement).dataset;
    return { name: d.name ?? '', tokens: d.tokens ? Number(d.tokens) : NaN, documents: d.documents ? Number(d.documents) : NaN, bytes: Number(d.bytes) };
  }));
}

/** The files once the engine has counted every one of them. */
async function counted(list: Locator, n: number): Promise<Entry[]> {
  await expect(list.locator(':scope > li')).toHaveCount(n);
  await expect.poll(async () => (await entries(list)).every((e) => Number.isFinite(e.tokens))).toBe(true);
  return entries(list);
}

const total = async (page: Page) => Number(await page.getByTestId('dataset-count').getAttribute('data-tokens'));

test('dropped files show their tokens and first characters, can be removed, and the default data comes back; a held-out file of your own is evaluated', async ({ page }) => {
  const errors = collectErrors(page);
  await openStudio(page);
  const files = page.getByTestId('data-files');

  // The default data, named as such, with its tokens and a first look at its text (expandable).
  await expect(page.getByTestId('data-source')).toHaveAttribute('data-default', 'true');
  const [books] = await counted(files, 1);
  expect(books.name).toBe('books-short/train.jsonl.gz');
  expect(books.tokens).toBe(await total(page));
  await expect(files.getByTestId('remove-file')).toHaveCount(0);
  const preview = files.getByTestId('file-preview');
  const short = await preview.innerText();
  expect(short.length).toBeGreaterThan(100);
  expect(short.length).toBeLessThanOrEqual(301);
  expect(short).not.toContain('{"text"');
  await files.getByTestId('preview-more').click();
  await expect(preview).toHaveAttribute('data-expanded', 'true');
  expect((await preview.innerText()).length).toBeGreaterThan(short.length);
  // The default held-out set is named where it is used.
  await expect(page.getByTestId('heldout-files')).toHaveAttribute('data-default', 'true');
  await expect(page.getByTestId('heldout-files')).toContainText('The default held-out set (books-short/heldout.jsonl.gz)');

  // Two files replace the default data; each has its own token count, and they add up.
  await dropFiles(page.getByTestId('drop-zone'), [A, B]);
  await expect(page.getByTestId('data-source')).toHaveAttribute('data-default', 'false');
  const two = await counted(files, 2);
  expect(two.map((e) => e.name)).toEqual([A.name, B.name]);
  expect(two.map((e) => e.documents)).toEqual([1, 2]);
  await expect.poll(() => total(page)).toBe(two[0].tokens + two[1].tokens);
  // The JSONL file is shown as its documents' text; the long one is cut at a few hundred characters.
  await expect(files.locator(`li[data-name="${B.name}"]`).getByTestId('file-preview')).toHaveText('Dear Margaret, the storm has passed.\n\nDear Thomas, the boats are home.');
  await expect(files.locator(`li[data-name="${A.name}"]`).getByTestId('file-preview')).toHaveText(`${A.text.slice(0, 300)}…`);
  await expect(files.locator(`li[data-name="${B.name}"]`)).toContainText('in 2 documents');

  // A third joins them; removing one leaves the others, counted again.
  await dropFiles(page.getByTestId('drop-zone'), [C]);
  await counted(files, 3);
  await files.locator(`li[data-name="${A.name}"]`).getByTestId('remove-file').click();
  const left = await counted(files, 2);
  expect(left.map((e) => e.name)).toEqual([B.name, C.name]);
  await expect.poll(() => total(page)).toBe(left[0].tokens + left[1].tokens);

  // Back to the default data, counted as before.
  await page.getByTestId('use-default-data').click();
  await expect(page.getByTestId('data-source')).toHaveAttribute('data-default', 'true');
  await counted(files, 1);
  await expect.poll(() => total(page)).toBe(books.tokens);
  await expect(page.getByTestId('use-default-data')).toHaveCount(0);

  // An empty held-out file is refused with a sentence, and the default set stays.
  await dropFiles(page.getByTestId('heldout-drop-zone'), [{ name: 'empty.txt', text: '  \n' }]);
  await expect(page.getByTestId('error')).toContainText('empty.txt is empty');
  await expect(page.getByTestId('heldout-files')).toHaveAttribute('data-default', 'true');
  await page.getByRole('button', { name: 'dismiss' }).click();

  // A held-out file of one's own: shorter than the context, so it is one chunk, of all its tokens.
  const mine = { name: 'my-heldout.txt', text: 'The keeper wrote the last entry by candlelight and closed the book.' };
  await dropFiles(page.getByTestId('heldout-drop-zone'), [mine]);
  await expect(page.getByTestId('heldout-files')).toHaveAttribute('data-default', 'false');
  await expect(page.getByTestId('heldout-files')).toContainText('Your held-out file (my-heldout.txt)');
  const [held] = await counted(page.getByTestId('heldout-list'), 1);
  expect(held.tokens).toBeGreaterThan(5);
  expect(held.tokens).toBeLessThan(64);
  await setUpRun(page, { ctx: 64, steps: 2, sparsity: 'dense', evalEvery: 2, evalChunks: 4 });
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 300_000 });
  const e = await evals(page);
  expect(e).toHaveLength(1);
  expect(e[0].tokens).toBe(held.tokens - 1);
  await expect(page.getByTestId('heldout-source')).toHaveText(`${held.tokens - 1} tokens of my-heldout.txt`);

  // At 390 px wide, long file names and previews wrap: nothing scrolls sideways.
  await page.setViewportSize({ width: 390, height: 800 });
  await dropFiles(page.getByTestId('drop-zone'), [A]);
  await counted(files, 1);
  await expectNoSidewaysScroll(page);

  // Back to the default held-out set.
  await page.getByTestId('use-default-heldout').click();
  await expect(page.getByTestId('heldout-files')).toHaveAttribute('data-default', 'true');
  await counted(page.getByTestId('heldout-list'), 1);
  expect(errors).toEqual([]);
});

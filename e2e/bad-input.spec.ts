// Bad data dropped on the page gets the engine's sentence, and what was loaded stays: the
// model, the data files, the finished run's losses and its export; so does a bad model folder.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect, type Locator } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { losses } from './helpers/studio';
import { writeTinyLlama } from './helpers/tiny-model';

/** A real drop of files with the given bytes. */
async function drop(target: Locator, files: { name: string; bytes: number[] }[]): Promise<void> {
  const dataTransfer = await target.page().evaluateHandle((list: { name: string; bytes: number[] }[]) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([Uint8Array.from(f.bytes)], f.name));
    return dt;
  }, files);
  for (const type of ['dragenter', 'dragover', 'drop']) await target.dispatchEvent(type, { dataTransfer });
  await dataTransfer.dispose();
}

const utf8 = (s: string) => [...new TextEncoder().encode(s)];

test('bad dataset files get a sentence and leave the model, the data and the run as they were', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/?model=lemo-tiny');
  await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');
  await expect(page.getByTestId('run-state')).toHaveText('idle');
  await page.getByTestId('ctx').fill('128');
  await page.getByTestId('steps').fill('2');
  await page.getByTestId('sparsity-select').selectOption('dense');
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished');
  const before = { losses: await losses(page), files: await page.getByTestId('data-files').innerText(), model: await page.getByTestId('model-card').innerText() };
  expect(before.losses).toHaveLength(2);

  const cases: [string, number[], RegExp][] = [
    ['photo.txt', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13], /^photo\.txt is a binary file, not text \(a zero byte at offset 8\)/],
    ['latin1.md', [...utf8('Caf'), 0xe9, ...utf8(' au lait\n')], /^latin1\.md is not valid UTF-8 text: byte 3 \(line 1\) is 0xe9/],
    ['rows.jsonl', utf8('{"text": "one"}\n{"body": "two"}\n'), /^rows\.jsonl, line 2: no "text" field with a string \(it has "body"\)/],
    ['empty.txt', [], /^empty\.txt is empty: there is no text to train on\./],
  ];
  for (const [name, bytes, sentence] of cases) {
    await drop(page.getByTestId('drop-zone'), [{ name, bytes }]);
    await expect(page.getByTestId('error')).toHaveText(sentence);
    expect(await page.getByTestId('data-files').innerText()).toBe(before.files);
    expect(await page.getByTestId('model-card').innerText()).toBe(before.model);
    expect(await losses(page)).toEqual(before.losses);
    await expect(page.getByTestId('run-state')).toHaveText('finished');
    await expect(page.getByTestId('export-adapter')).toBeEnabled();
    await page.getByRole('button', { name: 'dismiss' }).click();
  }

  // The run after them still trains on the data that stayed, and exports.
  const download = page.waitForEvent('download');
  await page.getByTestId('export-adapter').click();
  expect((await download).suggestedFilename()).toBe('lemo-tiny-lora.zip');

  // A context beyond the model's 1024 positions at a RoPE scale of 1: the sentence names the RoPE scale that reaches it.
  await page.getByTestId('ctx').fill('4096');
  await page.getByTestId('rope-scale').fill('1');
  await page.getByTestId('start').click();
  await expect(page.getByTestId('error')).toContainText('A RoPE scale of 1 reaches 1024 tokens (1024 positions × 1), short of the 4096-token context: use a RoPE scale of at least 4, or a shorter context.');
  await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');
  expect(errors).toEqual([]);
});

test('a model folder whose config.json nests 200,000 levels deep, or whose values are out of range, gets a sentence and the model stays', async ({ page }) => {
  const errors = collectErrors(page);
  const root = mkdtempSync(join(tmpdir(), 'lemo-bad-config-'));
  await page.goto('/?model=lemo-tiny');
  await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');
  // The engine takes a dropped folder once it has started (the default data counted).
  await expect(page.getByTestId('run-state')).toHaveText('idle');
  const alert = page.getByTestId('error');
  const config = (dir: string) => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const cases: [string, (c: Record<string, unknown>) => string, string][] = [
    ['deep', (c) => `${JSON.stringify(c).slice(0, -1)}, "x": ${'['.repeat(200_000)}${']'.repeat(200_000)}}`, 'config.json nests its values more than 64 levels deep'],
    ['huge-eps', (c) => JSON.stringify({ ...c, rms_norm_eps: 1e300 }), 'config.json has rms_norm_eps 1e+300, but it must be a small positive number'],
    ['zero-rope', (c) => JSON.stringify({ ...c, rope_parameters: { rope_type: 'linear', factor: 0, rope_theta: 10000 } }), 'is 0, but a linear RoPE scale must be a positive number up to 1024'],
  ];
  for (const [name, write, sentence] of cases) {
    const dir = join(root, name);
    writeTinyLlama(dir);
    writeFileSync(join(dir, 'config.json'), write(config(dir)));
    await page.getByTestId('model-input').setInputFiles(dir);
    await expect(alert).toContainText(sentence);
    await expect(alert).toContainText('lemo-tiny stays loaded');
    await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');
    await alert.getByRole('button', { name: 'dismiss' }).click();
  }
  expect(errors).toEqual([]);
});

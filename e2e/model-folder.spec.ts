// Bringing one's own model: a folder picked (or its files dropped) replaces the default model
// in the worker, named on the page with its size and parameter count; the runs that follow
// train it. A folder that is not a model, or whose weights are corrupt, gets a sentence and
// leaves the model loaded before in place, in the page and in the engine. The weights go to the
// worker as the files themselves, read header first: a model too large is refused unread.
import { mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect, type Page } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { dropBinaryFiles } from './helpers/drop';
import { losses, openStudio, setUpRun, sparsityLayers } from './helpers/studio';
import { writeTinyLlama } from './helpers/tiny-model';

async function trainTwoSteps(page: Page): Promise<number[]> {
  await setUpRun(page, { ctx: 64, steps: 2, block: 16 });
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished');
  return losses(page);
}

test('a model folder loads into the worker and trains; a bad folder leaves the previous model loaded', async ({ page }) => {
  const errors = collectErrors(page);
  const root = mkdtempSync(join(tmpdir(), 'lemo-model-'));
  const tiny = writeTinyLlama(join(root, 'tiny-llama'));
  await openStudio(page);
  const defaultParams = Number(await page.getByTestId('model-card').locator('dl').getAttribute('data-parameters'));
  const alert = page.getByTestId('error');

  // A folder without tokenizer.json: named, with what is missing; the default model stays.
  const noTok = join(root, 'no-tokenizer');
  writeTinyLlama(noTok);
  const files = ['config.json', 'model.safetensors'].map((n) => ({ name: n, bytes: new Uint8Array(readFileSync(join(noTok, n))) }));
  await dropBinaryFiles(page.getByTestId('model-drop-zone'), files);
  await expect(alert).toContainText('tokenizer.json is missing');
  await expect(alert).toContainText('lemo-tiny stays loaded');
  await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');
  await alert.getByRole('button', { name: 'dismiss' }).click();

  // Weights cut short: the engine refuses them with its sentence, and keeps the model it had.
  const cut = join(root, 'cut-short');
  writeTinyLlama(cut);
  const full = readFileSync(join(cut, 'model.safetensors'));
  writeFileSync(join(cut, 'model.safetensors'), full.subarray(0, full.length - 1000));
  await page.getByTestId('model-input').setInputFiles(cut);
  await expect(alert).toContainText('Could not load the model from cut-short');
  await expect(alert).toContainText('cut short');
  await expect(alert).toContainText('lemo-tiny stays loaded');
  await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');
  expect(Number(await page.getByTestId('model-card').locator('dl').getAttribute('data-parameters'))).toBe(defaultParams);
  await alert.getByRole('button', { name: 'dismiss' }).click();
  // The engine still trains the pretrained default model: far below a uniform guess (ln 8192 ≈ 9.01).
  for (const l of await trainTwoSteps(page)) expect(l).toBeLessThan(Math.log(8192) - 2);

  // A good folder, picked with the folder dialog.
  await page.getByTestId('model-input').setInputFiles(tiny.dir);
  await expect(page.getByTestId('model-name')).toHaveText('tiny-llama');
  const dl = page.getByTestId('model-card').locator('dl');
  expect(Number(await dl.getAttribute('data-parameters'))).toBe(tiny.parameters);
  expect(Number(await dl.getAttribute('data-layers'))).toBe(tiny.layers);
  await expect(page.getByTestId('model-parameters')).toContainText(`${(tiny.parameters / 1e3).toFixed(1)} k`);
  await expect(page.getByTestId('model-file').filter({ hasText: 'model.safetensors' })).toHaveAttribute('data-bytes', String(tiny.weightsFileBytes));
  await expect(page.getByTestId('predictors')).toContainText('tiny-llama has no predictors.safetensors');
  await expect(page.locator('[data-testid=sparsity-select] option[value=lemo]')).toBeDisabled();
  // The dataset's tokens are counted again with the new model's tokenizer.
  await expect(page.getByTestId('dataset-count')).toHaveAttribute('data-tokens', /^\d+$/);
  // Its runs train the new model: random weights predict about uniformly over the vocabulary.
  const random = await trainTwoSteps(page);
  expect(random).toHaveLength(2);
  for (const l of random) expect(Math.abs(l - Math.log(tiny.vocab))).toBeLessThan(0.5);
  // Two sparse layers of the policy over two: the per-layer panel has a row per layer of this model.
  await expect(page.getByTestId('sparsity-values').locator('li')).toHaveCount(tiny.layers);

  // Its files dropped loose replace it again under the name "the dropped files".
  const again = join(root, 'again');
  const other = writeTinyLlama(again, { layers: 3, seed: 11 });
  const names = ['config.json', 'model.safetensors', 'tokenizer.json'];
  await dropBinaryFiles(page.getByTestId('model-drop-zone'), names.map((n) => ({ name: n, bytes: new Uint8Array(readFileSync(join(again, n))) })));
  await expect(page.getByTestId('model-name')).toHaveText('the dropped files');
  expect(Number(await dl.getAttribute('data-parameters'))).toBe(other.parameters);
  expect(errors).toEqual([]);
});

test('a model folder\'s policy.json is the run\'s keep policy, with its block; a malformed one gets a sentence and the model before stays', async ({ page }) => {
  const errors = collectErrors(page);
  const root = mkdtempSync(join(tmpdir(), 'lemo-model-'));
  await openStudio(page);
  await expect(page.getByTestId('model-policy')).toHaveAttribute('data-loaded', 'false');
  const alert = page.getByTestId('error');

  const bad = join(root, 'bad-policy');
  writeTinyLlama(bad, { layers: 3 });
  writeFileSync(join(bad, 'policy.json'), JSON.stringify({ block: 16, policy: [null, 1.5, null] }));
  await page.getByTestId('model-input').setInputFiles(bad);
  await expect(alert).toContainText('Could not load the model from bad-policy');
  await expect(alert).toContainText('policy.json is not a valid keep policy: layer 1');
  await expect(alert).toContainText('lemo-tiny stays loaded');
  await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');
  await alert.getByRole('button', { name: 'dismiss' }).click();

  // Layer 1 keeps half its blocks of 16 (the file's), the others run dense; the block setting (32) gives way.
  const good = join(root, 'tuned');
  writeTinyLlama(good, { layers: 3 });
  writeFileSync(join(good, 'policy.json'), JSON.stringify({ block: 16, policy: [null, 0.5, null] }));
  await page.getByTestId('model-input').setInputFiles(good);
  await expect(page.getByTestId('model-name')).toHaveText('tuned');
  await expect(page.getByTestId('model-policy')).toHaveText('policy.json: 1 of 3 layers eliminate (keep ratios), blocks of 16');
  await expect(page.getByTestId('block')).toBeDisabled();
  await setUpRun(page, { ctx: 64, steps: 1 });
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished');
  const layers = await sparsityLayers(page);
  expect(layers.map((l) => l.dense)).toEqual([true, false, true]);
  expect(layers[1].kept).toBe(2); // of 4 blocks (64 tokens / 16)
  expect(layers[1].eliminated).toBeCloseTo(0.5, 6);
  expect(errors).toEqual([]);
});

test("a dropped model's weights go to the worker as files, read header first: a 3 GiB model is refused from its header, a small one loads", async ({ page }) => {
  // What the page posts to the worker for each load-model request: the weights' bytes, or files.
  await page.addInitScript(() => {
    const sent: string[] = [];
    (window as unknown as { loadModelWeights: string[] }).loadModelWeights = sent;
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, m: unknown, ...rest: unknown[]) {
      const r = m as { type?: string; args?: { weights?: unknown } };
      const kind = (w: unknown) => (w instanceof File ? 'file' : w instanceof ArrayBuffer ? 'bytes' : 'other');
      if (r?.type === 'load-model') sent.push([r.args!.weights].flat().map(kind).join(','));
      return (post as (...a: unknown[]) => void).call(this, m, ...rest);
    };
  });
  const errors = collectErrors(page);
  const root = mkdtempSync(join(tmpdir(), 'lemo-model-'));
  // The page plans for 4 GiB, whatever this machine has.
  await openStudio(page, 'wasm', 'lemo-tiny', 'memory=4');
  const alert = page.getByTestId('error');

  // 3 GiB of bfloat16 (sparse on disk, never read): more than one ArrayBuffer may hold, and more than the page's 4 GiB.
  const huge = join(root, 'huge');
  writeTinyLlama(huge);
  const n = 3 * 2 ** 30;
  let json = JSON.stringify({ 'model.embed_tokens.weight': { dtype: 'BF16', shape: [n / 2 / 4096, 4096], data_offsets: [0, n] } });
  while ((8 + json.length) % 8) json += ' ';
  const head = Buffer.alloc(8 + json.length);
  head.writeBigUInt64LE(BigInt(json.length), 0);
  head.write(json, 8);
  writeFileSync(join(huge, 'model.safetensors'), head);
  truncateSync(join(huge, 'model.safetensors'), head.length + n);
  await page.getByTestId('model-input').setInputFiles(huge);
  await expect(alert).toContainText('Could not load the model from huge: This model is too large for the memory here: loading its 1610.6 M parameters needs about');
  await expect(alert).toContainText('Nothing was loaded. lemo-tiny stays loaded.');
  await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');
  await alert.getByRole('button', { name: 'dismiss' }).click();

  const tiny = writeTinyLlama(join(root, 'tiny-llama'));
  await page.getByTestId('model-input').setInputFiles(tiny.dir);
  await expect(page.getByTestId('model-name')).toHaveText('tiny-llama');
  expect(Number(await page.getByTestId('model-card').locator('dl').getAttribute('data-parameters'))).toBe(tiny.parameters);
  // The shipped default came as fetched bytes; both dropped folders as files.
  expect(await page.evaluate(() => (window as unknown as { loadModelWeights: string[] }).loadModelWeights)).toEqual(['bytes', 'file', 'file']);
  expect(errors).toEqual([]);
});

// A model folder whose weights come in shards, as the hub stores large models
// (model.safetensors.index.json and the model-0000N-of-0000M.safetensors it names): picked on
// the page, it loads as the one-file folder does; with a shard missing, a sentence says which,
// and the model loaded before stays.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect } from '@playwright/test';
import { readSafetensors, writeSafetensors } from '../src/engine/model/safetensors';
import { collectErrors } from './helpers/console';
import { openStudio } from './helpers/studio';
import { writeTinyLlama } from './helpers/tiny-model';

/** The folder's model.safetensors split in two shards with their index, as save_pretrained writes them. */
function shard(dir: string): string[] {
  const all = readSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))));
  const names = [...all.keys()].sort();
  const files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const map: Record<string, string> = {};
  files.forEach((file, i) => {
    const part = names.filter((_, j) => (j < names.length / 2 ? 0 : 1) === i);
    writeFileSync(join(dir, file), writeSafetensors(new Map(part.map((n) => [n, { shape: all.get(n)!.shape, data: all.get(n)!.data }]))));
    for (const n of part) map[n] = file;
  });
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }));
  rmSync(join(dir, 'model.safetensors'));
  return files;
}

test('a sharded model folder loads on the page; one with a shard missing is refused with a sentence, the previous model kept', async ({ page }) => {
  const errors = collectErrors(page);
  const root = mkdtempSync(join(tmpdir(), 'lemo-shards-'));
  await openStudio(page);
  const alert = page.getByTestId('error');

  const broken = join(root, 'broken');
  writeTinyLlama(broken, { seed: 5 });
  rmSync(join(broken, shard(broken)[1]));
  await page.getByTestId('model-input').setInputFiles(broken);
  await expect(alert).toContainText('Could not load the model from broken: model.safetensors.index.json names model-00002-of-00002.safetensors, which is not in broken');
  await expect(alert).toContainText('lemo-tiny stays loaded');
  await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');
  await alert.getByRole('button', { name: 'dismiss' }).click();

  const tiny = writeTinyLlama(join(root, 'sharded-llama'));
  const shards = shard(tiny.dir);
  await page.getByTestId('model-input').setInputFiles(tiny.dir);
  await expect(page.getByTestId('model-name')).toHaveText('sharded-llama');
  const dl = page.getByTestId('model-card').locator('dl');
  expect(Number(await dl.getAttribute('data-parameters'))).toBe(tiny.parameters);
  expect(Number(await dl.getAttribute('data-layers'))).toBe(tiny.layers);
  for (const s of shards) await expect(page.getByTestId('model-file').filter({ hasText: s })).toBeVisible();
  expect(errors).toEqual([]);
});

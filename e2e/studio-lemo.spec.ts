// The lemo mode in the studio: without predictors it is offered but disabled, with the reason;
// a predictors file dropped on the model card enables it, and a lemo run draws each sparse
// layer's predictor recall beside its eliminated share, in the chart and its CSV.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { dropBinaryFiles } from './helpers/drop';
import { losses, openStudio, setUpRun, SMALL_RUN, sparsityLayers } from './helpers/studio';

const DEFAULT_PREDICTORS = 'public/models/lemo-tiny/predictors.safetensors';

/** Predictors for the small test model, trained briefly by the `lemo` command (blocks of 16). */
function trainPredictors(): string {
  const out = join(mkdtempSync(join(tmpdir(), 'lemo-pred-')), 'predictors.safetensors');
  execFileSync('node', ['bin/lemo.js', 'predictors', 'train', '--model', 'public/models/lemo-tiny', '--ctx', '128', '--steps', '3', '--block', '16', '--out', out], { stdio: 'pipe' });
  return out;
}

for (const provider of ['wasm', 'webgpu'] as const) {
  test(`${provider}: lemo is unavailable without predictors; dropped predictors enable it and a lemo run plots recall per layer`, async ({ page }) => {
    const errors = collectErrors(page);
    const file = trainPredictors();
    await openStudio(page, provider);
    const lemo = page.locator('[data-testid=sparsity-select] option[value=lemo]');
    if (existsSync(DEFAULT_PREDICTORS)) {
      // The default model ships predictors: lemo is there from the start, and the default mode.
      await expect(lemo).toBeEnabled();
      await expect(page.getByTestId('sparsity-select')).toHaveValue('lemo');
    } else {
      await expect(lemo).toBeDisabled();
      await expect(page.getByTestId('predictors')).toContainText('lemo-tiny has no predictors.safetensors');
      await expect(page.getByTestId('settings')).toContainText('lemo needs predictors: lemo-tiny has no predictors.safetensors');
      await expect(page.getByTestId('sparsity-select')).toHaveValue('oracle');
    }

    // A file that is not predictors: a sentence, and nothing changes.
    await dropBinaryFiles(page.getByTestId('model-drop-zone'), [{ name: 'predictors.safetensors', bytes: new Uint8Array([1, 2, 3]) }]);
    await expect(page.getByTestId('error')).toContainText('predictors.safetensors could not be used');
    await page.getByTestId('error').getByRole('button', { name: 'dismiss' }).click();
    await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');

    const bytes = new Uint8Array(readFileSync(file));
    await dropBinaryFiles(page.getByTestId('model-drop-zone'), [{ name: 'predictors.safetensors', bytes }]);
    await expect(page.getByTestId('predictors')).toHaveAttribute('data-loaded', 'true');
    await expect(page.getByTestId('predictors')).toContainText('blocks of 16');
    await expect(lemo).toBeEnabled();

    const { ctx } = SMALL_RUN[provider];
    await setUpRun(page, { ctx, steps: 2, sparsity: 'lemo', recallEvery: 1 });
    await page.getByTestId('start').click();
    await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 600_000 });
    expect(await losses(page)).toHaveLength(2);

    // Layers 3 and 4 eliminate under the paper's policy; each reports a recall in [0, 1] (the
    // share of the oracle's kept blocks the predictors kept), the dense layers none.
    const nBlocks = ctx / 16;
    const kept = Math.ceil(0.4 * nBlocks);
    const layers = await sparsityLayers(page);
    expect(layers.map((l) => l.dense)).toEqual([true, true, true, false, false, true]);
    for (const l of layers) {
      if (l.dense) expect(l.recall).toBeNull();
      else {
        expect(l.kept).toBe(kept);
        expect(l.recall).not.toBeNull();
        expect(l.recall!).toBeGreaterThanOrEqual(0);
        expect(l.recall!).toBeLessThanOrEqual(1);
        // Recall is a share of `kept` blocks.
        expect(Math.abs(l.recall! * kept - Math.round(l.recall! * kept))).toBeLessThan(1e-9);
      }
    }
    // Eliminated share and recall: two bars for each of the two sparse layers (a recall of 0 draws none).
    const drawn = layers.filter((l) => !l.dense).reduce((n, l) => n + 1 + (l.recall! > 0 ? 1 : 0), 0);
    await expect(page.getByTestId('sparsity-bars').locator('.recharts-bar-rectangle')).toHaveCount(drawn);
    await expect(page.getByTestId('sparsity-bars-summary')).toContainText('predictor recall');
    const [d] = await Promise.all([page.waitForEvent('download'), page.getByTestId('sparsity-bars-csv').click()]);
    const csv = readFileSync(await d.path(), 'utf8').trim().split('\n').map((r) => r.split(','));
    expect(csv[0]).toEqual(['step', 'layer', 'dense', 'kept_blocks', 'eliminated_share', 'recall']);
    expect(csv.slice(1).map((r) => (r[5] === '' ? null : Number(r[5])))).toEqual(layers.map((l) => l.recall));
    expect(errors).toEqual([]);
  });
}

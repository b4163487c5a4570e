// The lemo mode in the studio: without predictors it is offered but disabled, with the reason;
// a predictors file dropped on the model card enables it, and a lemo run draws each sparse
// layer's predictor recall beside its eliminated share, in the chart and its CSV (under WASM;
// under WebGPU: e2e/studio-webgpu.spec.ts).
import { existsSync } from 'node:fs';
import { test, expect } from '@playwright/test';
import { lemoRun } from './helpers/flows';
import { openStudio } from './helpers/studio';

const DEFAULT_PREDICTORS = 'public/models/lemo-tiny/predictors.safetensors';

test('lemo is unavailable without predictors; dropped predictors enable it and a lemo run plots recall per layer', async ({ page }) => {
  await openStudio(page, 'wasm');
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
  await lemoRun(page, 'wasm');
});

// Driving the studio page: open it with the default model loaded, set a run up, read the
// numbers the dashboards plot (their hidden lists and data-* attributes).
import { expect, type Page } from '@playwright/test';

export type Provider = 'wasm' | 'webgpu';

/**
 * Opens the page with a shipped model loaded: the small test model unless another is named (the
 * default, lemo-books, with `model: 'lemo-books'`). 'webgpu' picks the provider in the settings
 * (auto prefers WASM over a software WebGPU adapter such as SwiftShader) and waits for the reload.
 * `query` adds URL parameters (e.g. 'memory=4': the page plans for 4 GiB).
 */
export async function openStudio(page: Page, provider: Provider = 'wasm', model = 'lemo-tiny', query = ''): Promise<void> {
  const params = [...(model === 'lemo-books' ? [] : [`model=${model}`]), ...(query ? [query] : [])];
  await page.goto(params.length ? `/?${params.join('&')}` : '/');
  await expect(page.getByTestId('model-name')).toHaveText(model);
  await expect(page.getByTestId('run-state')).toHaveText('idle');
  if (provider === 'webgpu') {
    await page.getByTestId('provider-select').selectOption('webgpu');
    await expect(page.getByTestId('provider')).toContainText('webgpu');
    await expect(page.getByTestId('model-name')).toHaveText(model);
    await expect(page.getByTestId('run-state')).toHaveText('idle');
  }
  await expect(page.getByTestId('provider')).toContainText(provider);
  // The default data's tokens are counted by the engine now running, and nothing went wrong.
  await expect(page.getByTestId('dataset-count')).toHaveAttribute('data-tokens', /^\d+$/);
  await expect(page.getByTestId('error')).toHaveCount(0);
}

/** A run's settings per provider: SwiftShader's WebGPU runs on the CPU, about 60 times slower than WASM. */
export const SMALL_RUN: Record<Provider, { ctx: number; block: number }> = {
  wasm: { ctx: 256, block: 16 },
  webgpu: { ctx: 64, block: 16 },
};

export interface RunSetup {
  ctx: number;
  steps: number;
  sparsity?: 'oracle' | 'dense' | 'lemo';
  block?: number;
  batch?: number;
  /** Held-out evaluation every this many steps (0: never) on this many chunks. */
  evalEvery?: number;
  evalChunks?: number;
  recallEvery?: number;
}

export async function setUpRun(page: Page, r: RunSetup): Promise<void> {
  await page.getByTestId('ctx').fill(String(r.ctx));
  await page.getByTestId('steps').fill(String(r.steps));
  await page.getByTestId('sparsity-select').selectOption(r.sparsity ?? 'oracle');
  if (r.block !== undefined) await page.getByTestId('block').fill(String(r.block));
  await page.getByTestId('batch').fill(String(r.batch ?? 1));
  await page.getByTestId('eval-every').fill(String(r.evalEvery ?? 0));
  if (r.evalChunks !== undefined) await page.getByTestId('eval-chunks').fill(String(r.evalChunks));
  if (r.recallEvery !== undefined) await page.getByTestId('recall-every').fill(String(r.recallEvery));
}

export interface EvalRow {
  step: number;
  loss: number;
  perplexity: number;
  tokens: number;
}

/** The held-out evaluations the loss chart plots. */
export async function evals(page: Page): Promise<EvalRow[]> {
  return page.getByTestId('eval-values').locator('li').evaluateAll((lis) =>
    lis.map((li) => {
      const d = (li as HTMLElement).dataset;
      return { step: Number(d.step), loss: Number(d.loss), perplexity: Number(d.perplexity), tokens: Number(d.tokens) };
    }),
  );
}

/** The step count the progress line shows. */
export async function shownStep(page: Page): Promise<number> {
  const m = /step (\d+) \//.exec(await page.getByTestId('step').innerText());
  return m ? Number(m[1]) : NaN;
}

export async function losses(page: Page): Promise<number[]> {
  return (await page.getByTestId('loss-values').locator('li').allTextContents()).map(Number);
}

export interface StepMemoryRow {
  step: number;
  samples: number;
  weights: number;
  activationsMax: number;
  activationsEnd: number;
  /** Saved activations parked in host memory (offload), at their highest in the step. */
  offloadedMax: number;
  /** Saved activations in the browser's storage (disk offload), at their highest in the step. */
  storedMax: number;
  totalMax: number;
  /** The device's own figure at its highest in the step (GPU buffers or WASM heap); NaN if none. */
  deviceMax: number;
}

/** The memory chart's per-step summary of the samples it plots. */
export async function memorySteps(page: Page): Promise<StepMemoryRow[]> {
  return page.getByTestId('memory-steps').locator('li').evaluateAll((lis) =>
    lis.map((li) => {
      const d = (li as HTMLElement).dataset;
      return { step: Number(d.step), samples: Number(d.samples), weights: Number(d.weights), activationsMax: Number(d.activationsMax), activationsEnd: Number(d.activationsEnd), offloadedMax: Number(d.offloadedMax), storedMax: Number(d.storedMax), totalMax: Number(d.totalMax), deviceMax: d.deviceMax ? Number(d.deviceMax) : NaN };
    }),
  );
}

export interface LayerRow {
  layer: number;
  dense: boolean;
  kept: number;
  eliminated: number;
  recall: number | null;
}

export async function sparsityLayers(page: Page): Promise<LayerRow[]> {
  return page.getByTestId('sparsity-values').locator('li').evaluateAll((lis) =>
    lis.map((li) => {
      const d = (li as HTMLElement).dataset;
      return { layer: Number(d.layer), dense: d.dense === 'true', kept: Number(d.kept), eliminated: Number(d.eliminated), recall: d.recall ? Number(d.recall) : null };
    }),
  );
}

/** Resolves once the page's main thread has run no task over 50 ms for `quietMs`. */
export async function settled(page: Page, quietMs = 400): Promise<void> {
  await page.evaluate((quiet) => new Promise<void>((resolve) => {
    let last = performance.now();
    const observer = new PerformanceObserver(() => { last = performance.now(); });
    observer.observe({ type: 'longtask' });
    const check = () => {
      if (performance.now() - last < quiet) return void setTimeout(check, 50);
      observer.disconnect();
      resolve();
    };
    check();
  }), quietMs);
}

/**
 * Nothing on the page scrolls sideways, once the layout has settled (charts re-measure their
 * width a frame or more after the viewport changes).
 */
export async function expectNoSidewaysScroll(page: Page): Promise<void> {
  await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth), { timeout: 10_000 }).toBeLessThanOrEqual(0);
}

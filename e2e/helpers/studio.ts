// Driving the studio page: open it with the default model loaded, set a run up, read the
// numbers the dashboards plot (their hidden lists and data-* attributes).
import { expect, type Page } from '@playwright/test';

export async function openStudio(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');
  await expect(page.getByTestId('run-state')).toHaveText('idle');
}

export interface RunSetup {
  ctx: number;
  steps: number;
  sparsity?: 'oracle' | 'dense';
  block?: number;
  batch?: number;
}

export async function setUpRun(page: Page, r: RunSetup): Promise<void> {
  await page.getByTestId('ctx').fill(String(r.ctx));
  await page.getByTestId('steps').fill(String(r.steps));
  await page.getByTestId('sparsity-select').selectOption(r.sparsity ?? 'oracle');
  if (r.block !== undefined) await page.getByTestId('block').fill(String(r.block));
  await page.getByTestId('batch').fill(String(r.batch ?? 1));
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
  totalMax: number;
}

/** The memory chart's per-step summary of the samples it plots. */
export async function memorySteps(page: Page): Promise<StepMemoryRow[]> {
  return page.getByTestId('memory-steps').locator('li').evaluateAll((lis) =>
    lis.map((li) => {
      const d = (li as HTMLElement).dataset;
      return { step: Number(d.step), samples: Number(d.samples), weights: Number(d.weights), activationsMax: Number(d.activationsMax), activationsEnd: Number(d.activationsEnd), totalMax: Number(d.totalMax) };
    }),
  );
}

export interface LayerRow {
  layer: number;
  dense: boolean;
  kept: number;
  eliminated: number;
}

export async function sparsityLayers(page: Page): Promise<LayerRow[]> {
  return page.getByTestId('sparsity-values').locator('li').evaluateAll((lis) =>
    lis.map((li) => {
      const d = (li as HTMLElement).dataset;
      return { layer: Number(d.layer), dense: d.dense === 'true', kept: Number(d.kept), eliminated: Number(d.eliminated) };
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

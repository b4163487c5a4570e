// The studio's longer checks as steps on an open page (e2e/helpers/studio.ts's openStudio): a
// provider's spec runs each in a fresh page, or several in one page where each fresh page would
// compile the same kernels again (WebGPU on SwiftShader, e2e/studio-webgpu.spec.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect, type Page } from '@playwright/test';
import { collectErrors } from './console';
import { dropBinaryFiles, dropFiles } from './drop';
import { evals, losses, memorySteps, settled, setUpRun, shownStep, SMALL_RUN, sparsityLayers, type Provider } from './studio';

/** The start of one held-out book, cut to about 5 k tokens: the file the user drops. */
function speech(): string {
  const first = gunzipSync(readFileSync('public/data/books-long/heldout.jsonl.gz')).toString('utf8').split('\n')[0];
  return (JSON.parse(first) as { text: string }).text.slice(0, 20_000);
}

/** Clicks a download button; the file is kept under test-results/<provider>/ as well. */
async function download(page: Page, testId: string, provider: string): Promise<{ name: string; bytes: Buffer }> {
  const [d] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
  const path = `test-results/${provider}/${d.suggestedFilename()}`;
  await d.saveAs(path);
  return { name: d.suggestedFilename(), bytes: readFileSync(path) };
}

const isPng = (b: Buffer) => b.subarray(1, 4).toString('latin1') === 'PNG';

/**
 * Before any run, a dropped file trains a few steps with held-out evaluation; the loss, held-out
 * perplexity, memory and per-layer panels plot checked numbers, and the charts export.
 */
export async function dashboardsRun(page: Page, provider: Provider): Promise<void> {
  const errors = collectErrors(page);
  await page.setViewportSize({ width: 1360, height: 900 });
  // Before any run the per-layer panels explain themselves instead of drawing empty axes.
  await expect(page.getByTestId('sparsity-bars-note')).toContainText('once a run starts');

  const text = speech();
  await dropFiles(page.getByTestId('drop-zone'), [{ name: 'speech.txt', text }]);
  await expect(page.getByTestId('data-files').locator('li')).toHaveCount(1);
  await expect(page.getByTestId('data-files').locator('li')).toContainText('speech.txt');
  expect(Number(await page.getByTestId('data-files').locator('li').getAttribute('data-bytes'))).toBe(Buffer.byteLength(text));
  // The engine counts the file's tokens before any run.
  const count = page.getByTestId('dataset-count');
  await expect(count).toContainText('1 document');
  const counted = Number(await count.getAttribute('data-tokens'));
  // Byte-level BPE of English: between 2 and 6 characters a token.
  expect(counted).toBeGreaterThan(text.length / 6);
  expect(counted).toBeLessThan(text.length / 2);

  // ctx tokens in blocks of 16; the paper's policy keeps ceil(0.4 · blocks) of them in
  // layers 3 and 4 and runs the others dense.
  const { ctx, block } = SMALL_RUN[provider];
  const steps = provider === 'wasm' ? 4 : 3;
  const nBlocks = ctx / block;
  const kept = Math.ceil(0.4 * nBlocks);
  await setUpRun(page, { ctx, steps, block, evalEvery: 2, evalChunks: 2 });
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 600_000 });

  const vocab = Number(await page.getByTestId('model-card').locator('dl').getAttribute('data-vocab'));
  const trained = await losses(page);
  expect(trained).toHaveLength(steps);
  for (const l of trained) {
    // A pretrained model starts far below the loss of a uniform guess over the vocabulary.
    expect(l).toBeGreaterThan(0);
    expect(l).toBeLessThan(Math.log(vocab) - 2);
  }
  await expect(page.getByTestId('dataset-summary')).toContainText('1 document');
  expect(Number(await page.getByTestId('dataset-summary').getAttribute('data-tokens'))).toBe(counted);

  // Held-out perplexity every 2 steps and after the last: 2 chunks of ctx tokens each time.
  const ev = await evals(page);
  expect(ev.map((e) => e.step)).toEqual(steps === 4 ? [2, 4] : [2, 3]);
  for (const e of ev) {
    expect(e.perplexity).toBeGreaterThan(1);
    expect(e.perplexity).toBeLessThan(vocab);
    expect(Math.abs(Math.log(e.perplexity) - e.loss)).toBeLessThan(1e-9);
    expect(e.tokens).toBe(2 * (ctx - 1));
  }
  await expect(page.getByTestId('heldout-perplexity')).toHaveText(ev[ev.length - 1].perplexity.toFixed(1));
  await expect(page.getByTestId('loss-chart').locator('.recharts-line')).toHaveCount(2);

  // Memory: every step sampled; the frozen weights at a step's end are the model's bytes as
  // stored (bfloat16 matrices at 2 bytes a value, the norms widened to float32; the tied LM
  // head is the embedding table itself); saved activations rise during the step and are gone
  // when it ends.
  const card = page.getByTestId('model-card').locator('dl');
  const weightBytes = Number(await card.getAttribute('data-weight-bytes'));
  expect(weightBytes).toBeGreaterThan(24e6);
  expect(weightBytes).toBeLessThan(26e6);
  const hidden = Number(await card.getAttribute('data-hidden'));
  const norms = (2 * Number(await card.getAttribute('data-layers')) + 1) * hidden;
  const mem = await memorySteps(page);
  expect(mem.map((s) => s.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
  for (const s of mem) {
    expect(s.samples).toBeGreaterThan(5);
    expect(s.weights).toBe(weightBytes / 2 + 2 * norms);
    expect(s.activationsMax).toBeGreaterThan(0);
    expect(s.activationsEnd).toBe(0);
    expect(s.totalMax).toBeGreaterThanOrEqual(s.weights + s.activationsMax);
    // The device's own figure: under WebGPU every GPU buffer alive, the weights among them;
    // under WASM the heap of onnxruntime, which holds a run's inputs, outputs and workspace.
    if (provider === 'webgpu') expect(s.deviceMax).toBeGreaterThanOrEqual(s.weights);
    else expect(s.deviceMax).toBeGreaterThan(s.activationsMax);
  }
  const body = page.getByTestId('memory-chart').locator('.memory-body');
  const peak = Number(await body.getAttribute('data-peak'));
  const baseline = Number(await body.getAttribute('data-baseline'));
  expect(peak).toBeGreaterThanOrEqual(Math.max(...mem.map((s) => s.totalMax)));
  expect(baseline).toBeGreaterThan(weightBytes);
  // One area per kind: weights, adapter, optimizer, gradients, saved and offloaded activations, transient.
  await expect(page.getByTestId('memory-chart').locator('.recharts-area')).toHaveCount(7);
  await expect(page.getByTestId('peak-baseline')).toBeVisible();
  await expect(page.getByTestId('memory-legend')).toContainText(provider === 'webgpu' ? 'GPU buffers (measured)' : 'WASM heap (measured)');

  // Per layer: layers 0–2 and 5 dense, 3 and 4 keep `kept` of the blocks.
  const layers = await sparsityLayers(page);
  expect(layers.map((l) => l.dense)).toEqual([true, true, true, false, false, true]);
  expect(layers.filter((l) => !l.dense).map((l) => [l.kept, l.eliminated])).toEqual([[kept, 1 - kept / nBlocks], [kept, 1 - kept / nBlocks]]);
  expect(layers.map((l) => l.recall)).toEqual(Array(6).fill(null));
  // Recharts draws a bar only where there is something to draw: the two sparse layers.
  await expect(page.getByTestId('sparsity-bars').locator('.recharts-bar-rectangle')).toHaveCount(2);
  // Every layer has its tick, in order; the caption names the dense ones.
  await expect(page.getByTestId('sparsity-bars').locator('svg text').filter({ hasText: /^L\d+$/ })).toHaveText(['L0', 'L1', 'L2', 'L3', 'L4', 'L5']);
  await expect(page.getByTestId('dense-layers')).toHaveText('dense layers (keep every token): L0, L1, L2, L5');
  const cells = page.getByTestId('heatmap-cell');
  await expect(cells).toHaveCount(6 * nBlocks);
  await expect(page.locator('[data-testid=heatmap-cell][data-layer="3"][data-state=kept]')).toHaveCount(kept);
  await expect(page.locator('[data-testid=heatmap-cell][data-layer="3"][data-state=eliminated]')).toHaveCount(nBlocks - kept);
  await expect(page.locator('[data-testid=heatmap-cell][data-layer="0"][data-state=dense]')).toHaveCount(nBlocks);

  // Hovering a cell shows that block's text, which is a piece of the dropped document.
  const j = nBlocks - 1;
  await page.locator(`[data-testid=heatmap-cell][data-layer="3"][data-block="${j}"]`).hover();
  const tip = page.getByTestId('heatmap-tooltip');
  await expect(tip).toContainText(`layer 3 · block ${j} (tokens ${j * block}–${(j + 1) * block - 1})`);
  const blockText = await page.getByTestId('heatmap-tooltip-text').textContent();
  expect(blockText?.trim().length).toBeGreaterThan(10);
  expect(text).toContain(blockText!.trim());
  await page.mouse.move(0, 0);
  await expect(tip).toHaveCount(0);

  // CSV of the loss chart: a header and one row per step, the plotted losses and held-out figures.
  const csv = await download(page, 'loss-chart-csv', provider);
  expect(csv.name).toBe('loss-chart.csv');
  const rows = csv.bytes.toString('utf8').trim().split('\n').map((r) => r.split(','));
  expect(rows[0]).toEqual(['step', 'loss', 'tokens', 'ms', 'tokens_per_second', 'heldout_loss', 'heldout_perplexity']);
  expect(rows.slice(1).map((r) => Number(r[0]))).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
  expect(rows.slice(1).map((r) => Number(r[1]))).toEqual(trained);
  expect(rows.slice(1).filter((r) => r[6] !== '').map((r) => Number(r[6]))).toEqual(ev.map((e) => e.perplexity));
  // The memory CSV has every sample the chart plots.
  const memCsv = (await download(page, 'memory-chart-csv', provider)).bytes.toString('utf8').trim().split('\n');
  expect(memCsv.length - 1).toBe(mem.reduce((a, s) => a + s.samples, 0));
  // The per-layer CSV: one row per layer with its eliminated share.
  const layerCsv = (await download(page, 'sparsity-bars-csv', provider)).bytes.toString('utf8').trim().split('\n').map((r) => r.split(','));
  expect(layerCsv.slice(1).map((r) => Number(r[4]))).toEqual(layers.map((l) => l.eliminated));
  // PNG of the memory chart (SVG inside) and of the heat map (HTML): real images.
  const png = await download(page, 'memory-chart-png', provider);
  expect(png.name).toBe('memory-chart.png');
  expect(isPng(png.bytes)).toBe(true);
  expect(png.bytes.length).toBeGreaterThan(10_000);
  const heat = await download(page, 'sparsity-heatmap-png', provider);
  expect(isPng(heat.bytes)).toBe(true);
  expect(heat.bytes.length).toBeGreaterThan(10_000);

  await page.locator(`[data-testid=heatmap-cell][data-layer="4"][data-block="${Math.min(2, j)}"]`).hover();
  await page.screenshot({ path: `test-results/dashboards-${provider}.png`, fullPage: true });
  expect(errors).toEqual([]);
}

/** Predictors for the small test model, trained briefly by the `lemo` command (blocks of 16). */
function trainPredictors(): string {
  const out = join(mkdtempSync(join(tmpdir(), 'lemo-pred-')), 'predictors.safetensors');
  execFileSync('node', ['bin/lemo.js', 'predictors', 'train', '--model', 'public/models/lemo-tiny', '--ctx', '128', '--steps', '3', '--block', '16', '--out', out], { stdio: 'pipe' });
  return out;
}

/**
 * A file that is not predictors is refused with a sentence; predictors dropped on the model card
 * load, and a lemo run draws each sparse layer's predictor recall beside its eliminated share.
 */
export async function lemoRun(page: Page, provider: Provider): Promise<void> {
  const errors = collectErrors(page);
  const file = trainPredictors();
  const lemo = page.locator('[data-testid=sparsity-select] option[value=lemo]');
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
}

/**
 * While a long step runs in the worker, the page keeps drawing and answers a click at once; a
 * dense run says so in the per-layer panels; stop lands between steps.
 */
export async function longStep(page: Page, provider: Provider): Promise<void> {
  const errors = collectErrors(page);
  // A step of a few seconds of work in the worker: two windows of 1024 tokens under WASM, one of
  // 64 under SwiftShader's WebGPU.
  await setUpRun(page, provider === 'wasm' ? { ctx: 1024, batch: 2, steps: 6, sparsity: 'dense' } : { ctx: SMALL_RUN.webgpu.ctx, steps: 6, sparsity: 'dense' });
  await page.getByTestId('start').click();
  await expect.poll(() => shownStep(page)).toBeGreaterThanOrEqual(1);
  await expect(page.getByTestId('sparsity-bars-note')).toHaveText('dense run: every layer keeps every token');
  await expect(page.getByTestId('sparsity-heatmap-note')).toHaveText('dense run: every layer keeps every token');
  await expect(page.getByTestId('memory-chart-summary')).not.toContainText('dense baseline');

  // The next step runs in the worker. Once the charts have drawn the last one, watch the page for
  // one second (animation frames, tasks on its main thread); then click the memory chart's
  // x-axis toggle and time it from the mouse-down event to the DOM change. A window that
  // a step's end fell into (the charts redraw then) is measured again in the next step.
  let measured: Responsiveness | null = null;
  let axis: 'sample' | 'time' = 'sample';
  for (let attempt = 0; attempt < 3 && !measured; attempt++) {
    const stepBefore = await shownStep(page);
    await settled(page);
    const window = await measureWhileClicking(page, `memory-axis-${axis}`);
    if ((await shownStep(page)) === stepBefore && (await page.getByTestId('run-state').innerText()) === 'running') measured = window;
    axis = axis === 'sample' ? 'time' : 'sample';
  }
  expect(measured, 'a one-second window inside a step').not.toBeNull();
  const m = measured!;
  console.log(`${provider}, during a step: ${m.frames} frames in 1 s (longest gap ${m.maxGap.toFixed(0)} ms), longest main-thread task ${m.longestTask.toFixed(0)} ms, click → DOM ${m.reactionMs.toFixed(1)} ms`);
  // The click changed the page while the same step was still running in the worker (the window
  // counts only then); its delay is logged, not asserted, like the frame gaps below.
  expect(Number.isFinite(m.reactionMs)).toBe(true);
  // Frames keep coming. The longest gap and task are logged, not asserted: on this shared
  // two-core machine other processes can hold the page's thread off the CPU for a while.
  expect(m.frames).toBeGreaterThan(10);

  // Stop lands between steps, long before the sixth.
  await page.getByTestId('stop').click();
  await expect(page.getByTestId('run-state')).toHaveText('stopped');
  expect(await shownStep(page)).toBeLessThan(6);
  expect(errors).toEqual([]);
}

interface Responsiveness {
  frames: number;
  /** Longest time between two animation frames. */
  maxGap: number;
  /** Longest task on the page's main thread (0: none over 50 ms). */
  longestTask: number;
  reactionMs: number;
}

/** Frames drawn in one second, their longest gap and the longest main-thread task, then a click's delay to the DOM change. */
async function measureWhileClicking(page: Page, testId: string): Promise<Responsiveness> {
  const frames = await page.evaluate(() => new Promise<{ frames: number; maxGap: number; longestTask: number }>((resolve) => {
    let longestTask = 0;
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) longestTask = Math.max(longestTask, e.duration);
    });
    observer.observe({ type: 'longtask' });
    const t0 = performance.now();
    let last = t0;
    let frames = 0;
    let maxGap = 0;
    const tick = (t: number) => {
      frames++;
      maxGap = Math.max(maxGap, t - last);
      last = t;
      if (t - t0 < 1000) return void requestAnimationFrame(tick);
      observer.disconnect();
      resolve({ frames, maxGap, longestTask });
    };
    requestAnimationFrame(tick);
  }));
  // Wrapped in an object: evaluateHandle would otherwise wait for the promise (for the click).
  const reaction = await page.evaluateHandle((id) => {
    const button = document.querySelector<HTMLElement>(`[data-testid="${id}"]`)!;
    const done = new Promise<number>((resolve) => {
      let down = NaN;
      button.addEventListener('mousedown', (e) => { down = e.timeStamp; }, { once: true });
      new MutationObserver((_, observer) => {
        if (button.getAttribute('aria-pressed') !== 'true') return;
        observer.disconnect();
        resolve(performance.now() - down);
      }).observe(button, { attributes: true });
    });
    return { done };
  }, testId);
  await page.getByTestId(testId).click();
  const reactionMs = await reaction.evaluate((r) => r.done);
  await reaction.dispose();
  return { ...frames, reactionMs };
}

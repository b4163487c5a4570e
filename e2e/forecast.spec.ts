// Before Start: the memory forecast of the settings shown, dense and with token elimination,
// against this tab's budget, and the RoPE scale a context past the model's positions needs.
import { test, expect, type Page } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { openStudio, setUpRun } from './helpers/studio';

test('the forecast card shows the peak of dense and lemo against the tab’s budget, and a run that fits in neither is refused at Start with its sentence', async ({ page }) => {
  const errors = collectErrors(page);
  // The page plans for 4 GiB (whatever this machine has); each run of the WASM engine within its 4 GiB heap.
  await openStudio(page, 'wasm', 'lemo-tiny', 'memory=4');
  await setUpRun(page, { ctx: 256, steps: 1, sparsity: 'lemo' });
  const card = page.getByTestId('forecast');
  await expect(card).toContainText('256 tokens');
  // lemo-tiny at 256 tokens: the peak of each, in MB, under WASM's 4 GiB.
  await expect(card.getByTestId('forecast-peak')).toHaveText(/^peak\d+\.\d MB\d+\.\d MB$/);
  const [dense, lemo, budget] = await Promise.all(['data-dense', 'data-sparse', 'data-budget'].map(async (a) => Number(await card.getAttribute(a))));
  expect(lemo).toBeLessThan(dense);
  expect(dense).toBeGreaterThan(50e6);
  expect(budget).toBe(4 * 2 ** 30);
  await expect(page.getByTestId('forecast-verdict')).toHaveText(/^Both fit in 4\.29 GB \(the budget set for this page\): dense at about \d+\.\d MB, lemo at about \d+\.\d MB\. Its largest run holds about \d+\.\d MB dense, \d+\.\d MB with lemo, of 4\.29 GB \(WebAssembly's 4 GiB memory, which each run of the WASM engine works in\)\.$/);
  const run = Number(await card.getAttribute('data-dense-run'));
  expect(run).toBeGreaterThan(0);
  expect(run).toBeLessThan(dense);
  expect(Number(await card.getAttribute('data-heap'))).toBe(4 * 2 ** 30);

  // 64 windows of 1024 tokens: neither fits the page's 4 GiB; the card says so, and Start refuses with the same sentence.
  await page.getByTestId('batch').fill('64');
  await page.getByTestId('ctx').fill('1024');
  await expect(card).toHaveAttribute('data-refused', 'true');
  const sentence = "A lemo run of 64 × 1024 tokens would peak at about \\d+\\.\\d GiB \\(\\d+\\.\\d GiB of them activations\\), but 4\\.0 GiB is available \\(the budget set for this page\\): lower the batch or the context\\.";
  await expect(page.getByTestId('forecast-verdict')).toHaveText(new RegExp(`^Start is refused: ${sentence}$`));
  await page.getByTestId('start').click();
  await expect(page.getByTestId('error')).toHaveText(new RegExp(`^${sentence}`));
  await expect(page.getByTestId('run-state')).toHaveText('idle');
  await expect(page.getByTestId('step')).toHaveText('step 0 / 1');
  expect(errors).toEqual([]);
});

test('the card says plainly when dense will not fit and token elimination will; a dense run of it is refused, naming the mode that fits', async ({ page }) => {
  const errors = collectErrors(page);
  await openStudio(page, 'wasm', 'lemo-tiny', 'memory=4');
  await setUpRun(page, { ctx: 4096, steps: 1, sparsity: 'oracle', batch: 10 });
  // Layers 1 to 5 keep a tenth of their blocks.
  for (const l of [1, 2, 5]) await page.getByTestId(`policy-kind-${l}`).selectOption('keep');
  for (const l of [1, 2, 3, 4, 5]) await page.getByTestId(`policy-value-${l}`).fill('0.1');
  const verdict = page.getByTestId('forecast-verdict');
  await expect(verdict).toHaveText(/^Dense will not fit in 4\.29 GB \(the budget set for this page\): it needs about \d\.\d\d GB\. Oracle fits, at about \d\.\d\d GB\. Its largest run holds about \d\.\d\d GB dense, \d\.\d\d GB with oracle, of 4\.29 GB \(WebAssembly's 4 GiB memory, which each run of the WASM engine works in\)\.$/);
  await expect(page.getByTestId('forecast')).toHaveAttribute('data-refused', 'false');
  // Dense chosen: the card weighs it against lemo, which the predictors make available.
  await page.getByTestId('sparsity-select').selectOption('dense');
  await expect(verdict).toHaveText(/^Start is refused: A dense run of 10 × 4096 tokens would peak at about \d\.\d GiB .*; with lemo's token elimination it would take about \d\.\d GiB: choose lemo, or lower the batch or the context\.$/);
  await page.getByTestId('start').click();
  await expect(page.getByTestId('error')).toContainText('choose lemo, or lower the batch or the context.');
  await expect(page.getByTestId('run-state')).toHaveText('idle');
  expect(errors).toEqual([]);
});

test('a context past the model’s 1024 positions sets the RoPE scale with a sentence; a scale too small or out of range is refused at its field; the run trains', async ({ page }) => {
  const errors = collectErrors(page);
  await openStudio(page);
  await setUpRun(page, { ctx: 2048, steps: 1, sparsity: 'dense' });
  const rope = page.getByTestId('rope-scale');
  await expect(rope).toHaveValue('2');
  await expect(page.getByTestId('rope-note')).toHaveText("Set to 2: 2048 tokens pass this model's 1024 positions, and a linear RoPE scale of 2 reaches 2048.");

  const problem = page.getByTestId('settings-problem');
  await rope.fill('1.5');
  await expect(problem).toHaveAttribute('data-field', 'rope-scale');
  await expect(problem).toHaveText('A RoPE scale of 1.5 reaches 1536 tokens (1024 positions × 1.5), short of the 2048-token context: use a RoPE scale of at least 2, or a shorter context.');
  await rope.fill('0');
  await expect(problem).toHaveText("The RoPE scale must be a number above 0 and at most 1024 (it is 0): 2 doubles the context the model reaches; empty keeps the model's own.");
  await page.getByTestId('start').click();
  await expect(page.getByTestId('error')).toContainText('The RoPE scale must be a number above 0 and at most 1024 (it is 0)');
  await page.getByTestId('error').getByRole('button', { name: 'dismiss' }).click();

  await rope.fill('2');
  await expect(problem).toHaveCount(0);
  await expect(page.getByTestId('forecast')).toContainText('2048 tokens');
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished', { timeout: 300_000 });
  await expect(page.getByTestId('step')).toHaveText('step 1 / 1');
  await expect(page.getByTestId('error')).toHaveCount(0);

  // Back within the positions, the model's own scale returns once the page had set it.
  await page.getByTestId('ctx').fill('4096');
  await expect(rope).toHaveValue('4');
  await page.getByTestId('ctx').fill('512');
  await expect(rope).toHaveValue('');
  await expect(page.getByTestId('rope-note')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('an engine sentence that names a flag of the lemo command reaches the page without it', async ({ page }) => {
  const errors = collectErrors(page);
  await openStudio(page);
  await setUpRun(page, { ctx: 64, steps: 1, sparsity: 'oracle', block: 16 });
  // MLP channel sparsity with an MLP projection among the LoRA targets: the engine refuses the step.
  await page.getByTestId('target-modules').fill('q_proj, down_proj');
  await page.getByTestId('mlp-keep').fill('0.5');
  await page.getByTestId('start').click();
  await expect(page.getByTestId('error')).toContainText('MLP channel sparsity needs the MLP projections frozen: drop them from the LoRA target modules, or keep every MLP channel.');
  await expect(page.getByTestId('error')).not.toContainText('--');
  expect(errors).toEqual([]);
});

/** One state of the page as it rendered: the model named, the card's figures (null: none shown) and whether Start can be pressed. */
interface Seen {
  model: string | null;
  loading: boolean;
  ctx: string;
  state: string | null;
  head: string | null;
  dense: string | null;
  sparse: string | null;
  startDisabled: boolean;
}

/**
 * Records every state the page renders from now on (or, with `fromModelPick`, from the moment a
 * model folder is picked), one per batch of changes to the page.
 */
async function recordStates(page: Page, fromModelPick = false): Promise<void> {
  await page.evaluate((fromPick) => {
    const seen: Seen[] = [];
    (window as unknown as { seen: Seen[] }).seen = seen;
    const at = (id: string) => document.querySelector(`[data-testid="${id}"]`);
    const look = () => {
      const card = at('forecast');
      seen.push({
        model: at('model-name')?.textContent ?? null, loading: at('model-loading') !== null, ctx: (at('ctx') as HTMLInputElement).value,
        state: card?.getAttribute('data-state') ?? null, head: card?.querySelector('thead')?.textContent ?? null,
        dense: card?.getAttribute('data-dense') ?? null, sparse: card?.getAttribute('data-sparse') ?? null,
        startDisabled: (at('start') as HTMLButtonElement).disabled,
      });
    };
    const watch = () => new MutationObserver(look).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    if (fromPick) at('model-input')!.addEventListener('change', watch, { capture: true, once: true });
    else watch();
  }, fromModelPick);
}

const recorded = (page: Page) => page.evaluate(() => (window as unknown as { seen: Seen[] }).seen);

/** The oracle forecast at `ctx` tokens of the model loaded, once the card shows it. */
async function oracleForecast(page: Page, ctx: number): Promise<{ dense: string; sparse: string }> {
  await page.getByTestId('ctx').fill(String(ctx));
  await page.getByTestId('sparsity-select').selectOption('oracle');
  const card = page.getByTestId('forecast');
  await expect(card.locator('thead')).toHaveText(`peak of a step, 1 × ${ctx} tokensdenseoracle`);
  return { dense: (await card.getAttribute('data-dense'))!, sparse: (await card.getAttribute('data-sparse'))! };
}

test('after another model folder is picked, and after the context changes, the card never shows the forecast of the model or settings before: it is pending until the new one comes', async ({ page }) => {
  const errors = collectErrors(page);
  // The second model's forecast, from a fresh page that opens with it.
  await openStudio(page, 'wasm', 'lemo-books', 'memory=4');
  const second = await oracleForecast(page, 256);
  // The first model, its forecast on the card.
  await openStudio(page, 'wasm', 'lemo-tiny', 'memory=4');
  const first = await oracleForecast(page, 256);
  expect(first.dense).not.toBe(second.dense);

  await recordStates(page, true);
  await page.getByTestId('model-input').setInputFiles('public/models/lemo-books');
  await expect(page.getByTestId('model-name')).toHaveText('lemo-books');
  const card = page.getByTestId('forecast');
  await expect(card).toHaveAttribute('data-dense', second.dense);
  const afterPick = await recorded(page);
  // From the pick on, the card's figures (whenever it shows some) are the second model's; else it is pending.
  expect(afterPick.filter((s) => s.dense !== null && (s.dense !== second.dense || s.sparse !== second.sparse))).toEqual([]);
  await expect(card).toHaveAttribute('data-state', 'ready');
  expect(afterPick.filter((s) => s.dense === null && s.state !== 'pending')).toEqual([]);
  expect(afterPick.some((s) => s.model === 'lemo-books' && s.state === 'pending')).toBe(true);
  // Start waits while the folder loads: the run would train the model being replaced.
  expect(afterPick.filter((s) => s.loading && !s.startDisabled)).toEqual([]);
  expect(afterPick.some((s) => s.loading)).toBe(true);
  expect(await card.getAttribute('data-sparse')).toBe(second.sparse);

  // Another context: never the figures of 256 tokens under a context of 512.
  await recordStates(page);
  await page.getByTestId('ctx').fill('512');
  await expect(card.locator('thead')).toHaveText('peak of a step, 1 × 512 tokensdenseoracle');
  const afterCtx = await recorded(page);
  expect(afterCtx.filter((s) => s.head !== null && !s.head.includes(`1 × ${s.ctx} tokens`))).toEqual([]);
  await expect(card).toHaveAttribute('data-state', 'ready');
  expect(afterCtx.some((s) => s.ctx === '512' && s.state === 'pending')).toBe(true);
  expect(errors).toEqual([]);
});

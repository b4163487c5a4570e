// Runs that never lose their work: a run whose engine worker is killed mid-run, and one whose
// page is reloaded mid-run, are offered again on the page ("interrupted at step N"), resume
// from their checkpoint in the browser's storage, and end with the loss curve of a run that
// was never interrupted (same settings and seed).
import { test, expect, type Page } from '@playwright/test';
import { collectErrors } from './helpers/console';
import { losses, openStudio } from './helpers/studio';

// Enough steps that a run seen at its first checkpoints (events reach the page about once a second;
// the kill and the reload came at step 2 in every run seen)
// is still running when the worker is killed or the page reloaded, however fast the machine is.
const RUN = { ctx: 128, steps: 10, checkpointEvery: 2 };

async function setUp(page: Page): Promise<void> {
  await page.getByTestId('ctx').fill(String(RUN.ctx));
  await page.getByTestId('steps').fill(String(RUN.steps));
  await page.getByTestId('batch').fill('1');
  await page.getByTestId('sparsity-select').selectOption('oracle');
  await page.getByTestId('checkpoint-every').fill(String(RUN.checkpointEvery));
  const evalEvery = page.getByTestId('eval-every');
  if (await evalEvery.count()) await evalEvery.fill('0');
}

/** Starts a run and returns once a checkpoint after step 2 or later is on the page. */
async function startUntilCheckpoint(page: Page): Promise<void> {
  await setUp(page);
  await page.getByTestId('start').click();
  await expect(page.getByTestId('checkpoint')).toHaveAttribute('data-step', /^\d+$/);
}

/** Checks the curves agree to float tolerance; returns the largest relative difference. */
function expectSameCurve(got: number[], want: number[]): number {
  expect(got).toHaveLength(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.abs(want[i]));
  expect(worst).toBeLessThanOrEqual(1e-5);
  return worst;
}

/** Resumes the run the banner offers, runs it to the end, and returns its whole loss curve. */
async function resumeToEnd(page: Page): Promise<{ from: number; curve: number[] }> {
  const banner = page.getByTestId('resume-banner');
  await expect(banner).toBeVisible();
  const from = Number(await banner.getAttribute('data-step'));
  await expect(banner).toContainText(`A run was interrupted at step ${from} of ${RUN.steps}`);
  await page.getByTestId('resume-run').click();
  await expect(banner).toBeHidden();
  await expect(page.getByTestId('run-state')).toHaveText('finished');
  return { from, curve: await losses(page) };
}

test('a run whose worker is killed, and one whose page is reloaded, resume to the uninterrupted loss curve', async ({ page }) => {
  const errors = collectErrors(page);
  await openStudio(page);
  await setUp(page);
  await page.getByTestId('start').click();
  await expect(page.getByTestId('run-state')).toHaveText('finished');
  const uninterrupted = await losses(page);
  expect(uninterrupted).toHaveLength(RUN.steps);
  expect(new Set(uninterrupted).size).toBe(RUN.steps);
  // A finished run leaves nothing to resume.
  await page.reload();
  await expect(page.getByTestId('no-interrupted-run')).toHaveCount(1);
  await expect(page.getByTestId('resume-banner')).toHaveCount(0);

  // The worker dies mid-run (as a crash would): the page restarts the engine and offers the run.
  await startUntilCheckpoint(page);
  await page.evaluate(() => (window as unknown as { lemoDebug: { killEngine(): void } }).lemoDebug.killEngine());
  await expect(page.getByTestId('error')).toContainText('The engine was stopped before it answered.');
  await expect(page.getByTestId('resume-banner').or(page.getByTestId('no-interrupted-run'))).toBeVisible();
  const killed = await resumeToEnd(page);
  expect(killed.from).toBeGreaterThanOrEqual(2);
  expect(killed.from).toBeLessThan(RUN.steps);
  const killedDiff = expectSameCurve(killed.curve, uninterrupted);
  // The runs list holds the first run and the resumed one, once.
  await expect(page.getByTestId('run-row')).toHaveCount(2);

  // The page is reloaded mid-run.
  await startUntilCheckpoint(page);
  await page.reload();
  await expect(page.getByTestId('run-state')).toHaveText('idle');
  const reloaded = await resumeToEnd(page);
  expect(reloaded.from).toBeGreaterThanOrEqual(2);
  const reloadedDiff = expectSameCurve(reloaded.curve, uninterrupted);
  await expect(page.getByTestId('run-row')).toHaveCount(3);
  await expect(page.getByTestId('run-row').last()).toHaveAttribute('data-state', 'finished');
  const ck = page.getByTestId('checkpoint');
  console.log(`resume e2e: killed after checkpoint ${killed.from} (largest relative loss difference ${killedDiff}), reloaded after checkpoint ${reloaded.from} (${reloadedDiff}); ` +
    `last checkpoint: ${await ck.innerText()}; losses ${uninterrupted.map((l) => l.toFixed(6)).join(', ')}`);

  // Discard forgets an interrupted run.
  await startUntilCheckpoint(page);
  await page.reload();
  await expect(page.getByTestId('resume-banner')).toBeVisible();
  await page.getByTestId('discard-run').click();
  await expect(page.getByTestId('resume-banner')).toHaveCount(0);
  await page.reload();
  await expect(page.getByTestId('no-interrupted-run')).toHaveCount(1);
  await expect(page.getByTestId('resume-banner')).toHaveCount(0);
  // The kill's sentence was expected; nothing else went to the console.
  expect(errors.filter((e) => !/stopped before it answered/.test(e))).toEqual([]);
});

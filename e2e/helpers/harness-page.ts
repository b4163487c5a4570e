// One page of e2e/harness.html for the tests of the describe block this is called in: onnxruntime
// starts once in it and its compiled kernels serve every test (a fresh page for each cost seconds
// before any check, most of a small test's time under SwiftShader). A failed test takes its
// worker down; the next test opens the page again.
import { test, expect, type Page } from '@playwright/test';

export function sharedHarnessPage(): () => Page {
  let page: Page | undefined;
  test.beforeAll(async ({ browser }) => {
    page = await browser.newPage();
    await page.goto('/e2e/harness.html');
    await expect(page.locator('body[data-ready="true"]')).toBeAttached();
  });
  test.afterAll(async () => {
    await page?.close();
  });
  return () => page!;
}

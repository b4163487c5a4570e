// The README's screenshots: the studio after the default run at 1440 px (stored at 1100 px wide, JPEG), and at 390 px wide.
//   npx vite --port 5390 --strictPort &   node tools/docs/screenshots.mjs   (writes docs/studio-{1440,390}.jpg)
import { chromium } from 'playwright-core';
const b = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
for (const [width, out, wait] of [[1440, 'docs/studio-1440.jpg', 100000], [390, 'docs/studio-390.jpg', 0]]) {
  const p = await b.newPage({ viewport: { width, height: 900 } });
  await p.goto('http://localhost:5390/');
  await p.getByTestId('run-state').filter({ hasText: 'idle' }).waitFor({ timeout: 90000 });
  if (wait) {
    await p.getByTestId('start').click();
    await p.waitForTimeout(wait);
    await p.getByTestId('pause').click().catch(() => {});
    await p.waitForTimeout(3000);
  }
  await p.screenshot({ path: out, fullPage: width === 1440, type: 'jpeg', quality: 72 });
  await p.close();
}
await b.close();

import { defineConfig } from '@playwright/test';

const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const port = Number(process.env.E2E_PORT || 5174);

export default defineConfig({
  testDir: 'e2e',
  // Temporary folders the specs make (model folders to pick, bad inputs) under one removed at the end.
  globalSetup: './test/helpers/tmp-dir.ts',
  timeout: 600_000,
  expect: { timeout: 120_000 },
  // Two at once: much of a test's time is its page waiting on the engine worker or on SwiftShader;
  // on this 2-core machine the suite took 8.4 min, against 10.6 min one at a time.
  workers: 2,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: `http://localhost:${port}`,
    launchOptions: {
      executablePath: chromium,
      args: [
        '--enable-unsafe-webgpu', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync',
      ],
    },
  },
  // The tests' build of the studio and the harness page (vite.config.ts, `--mode e2e`), previewed:
  // a page opens in a third of the dev server's time.
  webServer: {
    command: `npx vite build --mode e2e --logLevel error && npx vite preview --mode e2e --port ${port} --strictPort`,
    url: `http://localhost:${port}/e2e/harness.html`,
    reuseExistingServer: !process.env.CI,
    timeout: 120_000,
  },
});

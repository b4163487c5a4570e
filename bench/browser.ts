// Opens e2e/harness.html in Debian's Chromium (WebGPU on) behind its own vite server, for
// benchmarks that run the engine worker in the browser; or serves the studio for those that use
// its page as a person would.
import { spawn } from 'node:child_process';
import { chromium, type Browser, type Page } from '@playwright/test';

const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Debian's Chromium (or CHROMIUM_PATH), WebGPU on. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** The studio behind its own vite server on `port`, once it answers; returns what stops it. */
export async function serveStudio(port: number): Promise<() => void> {
  const server = spawn('node_modules/.bin/vite', ['--port', String(port), '--strictPort'], { stdio: 'ignore' });
  for (let i = 0; i < 120; i++) {
    try { if ((await fetch(`http://localhost:${port}/`)).ok) break; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 500));
  }
  return () => server.kill();
}

export async function withHarnessPage<T>(port: number, fn: (page: Page) => Promise<T>): Promise<T> {
  const server = spawn('node_modules/.bin/vite', ['--port', String(port), '--strictPort'], { stdio: 'ignore' });
  try {
    const url = `http://localhost:${port}/e2e/harness.html`;
    for (let i = 0; i < 60; i++) {
      try { if ((await fetch(url)).ok) break; } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 500));
    }
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(0);
      await page.goto(url);
      await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
      return await fn(page);
    } finally {
      await browser.close();
    }
  } finally {
    server.kill();
  }
}

// Nothing leaves the machine: every request the page and its engine worker make during a whole
// run (load, start, steps, stop, both exports) goes to the page's own origin.
import { test, expect, type Request } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { readSafetensors } from '../src/engine/model/safetensors';
import { shownStep } from './helpers/studio';

test('a whole run requests nothing beyond its own origin', async ({ page, context, baseURL }) => {
  const seen: { url: string; from: string }[] = [];
  const record = (from: string) => (r: Request) => seen.push({ url: r.url(), from });
  context.on('request', record('context'));
  page.on('request', record('page'));
  page.on('worker', (w) => seen.push({ url: w.url(), from: 'worker' }));
  page.on('console', (m) => { if (m.type() === 'error' || /vite/i.test(m.text())) console.log(`console ${m.type()}: ${m.text().slice(0, 300)}`); });

  await page.goto('/?model=lemo-tiny');
  await expect(page.getByTestId('model-name')).toHaveText('lemo-tiny');
  await expect(page.getByTestId('run-state')).toHaveText('idle');
  await page.getByTestId('ctx').fill('128');
  await page.getByTestId('steps').fill('200');
  await page.getByTestId('start').click();
  await expect.poll(() => shownStep(page), { timeout: 120_000 }).toBeGreaterThanOrEqual(3);
  await page.getByTestId('stop').click();
  await expect(page.getByTestId('run-state')).toHaveText('stopped');

  for (const [button, file] of [['export-adapter', /^lemo-tiny-lora\.zip$/], ['export-merged', /^lemo-tiny-merged\.zip$/]] as const) {
    const download = page.waitForEvent('download');
    await page.getByTestId(button).click();
    const d = await download;
    expect(d.suggestedFilename()).toMatch(file);
    // The zip holds the folder transformers / PEFT load.
    const zip = unzipSync(new Uint8Array(readFileSync(await d.path())));
    const folder = d.suggestedFilename().replace(/\.zip$/, '');
    const names = Object.keys(zip).map((n) => n.replace(`${folder}/`, '')).sort();
    if (button === 'export-adapter') {
      // predictors.safetensors joins them when the session has predictors.
      expect(names.filter((n) => n !== 'predictors.safetensors')).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
      const tensors = readSafetensors(zip[`${folder}/adapter_model.safetensors`]);
      expect([...tensors.keys()]).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
      expect(JSON.parse(new TextDecoder().decode(zip[`${folder}/adapter_config.json`])).peft_type).toBe('LORA');
    } else {
      expect(names).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
      expect(readSafetensors(zip[`${folder}/model.safetensors`]).get('model.layers.0.self_attn.q_proj.weight')!.shape).toEqual([256, 256]);
    }
    // Blob URLs and data URLs are the page's own memory, not requests to anyone.
    expect(d.url()).toMatch(/^blob:/);
  }
  await expect(page.getByTestId('export-saved')).toContainText('model.safetensors');

  const origin = new URL(baseURL!).origin;
  const run = [...seen];
  // The recorder itself: a foreign fetch from a dedicated worker is seen (nothing listens there).
  const probe = 'http://127.0.0.1:9/lemo-privacy-probe';
  await page.evaluate((url) => new Promise<void>((resolve) => {
    const w = new Worker(URL.createObjectURL(new Blob([`fetch(${JSON.stringify(url)}).catch(() => {}).finally(() => postMessage(0));`], { type: 'text/javascript' })));
    w.onmessage = () => resolve();
  }), probe);
  await expect.poll(() => seen.some((s) => s.url === probe)).toBe(true);
  const urls = [...new Set(run.map((s) => s.url))];
  const foreign = urls.filter((u) => !u.startsWith('blob:') && !u.startsWith('data:') && new URL(u).origin !== origin);
  console.log(`requests: ${urls.length} distinct URLs, ${run.length} events; foreign: ${JSON.stringify(foreign)}`);
  // The record covers the worker: its script, onnxruntime's WASM binary (fetched by the worker) and the model.
  expect(urls.some((u) => /engine\.worker/.test(u))).toBe(true);
  expect(urls.some((u) => /\.wasm(\?|$)/.test(u))).toBe(true);
  expect(urls.some((u) => /model\.safetensors/.test(u))).toBe(true);
  expect(foreign).toEqual([]);
});

// Between the page and the engine worker: boots the engine with the default model and data,
// and turns button presses into requests. The store is updated only from engine events and
// request results.
import { EngineClient, EngineError } from '../worker/client';
import type { EngineEvent } from '../engine/events';
import { useStudio } from './store';
import { decodeDataset, parseDataset } from '../engine/train/data';

export const DEFAULT_MODEL = { name: 'lemo-tiny', url: '/models/lemo-tiny' };
export const DEFAULT_DATA = [{ name: 'sotu-long/train.jsonl', url: '/data/sotu-long/train.jsonl' }];

let client: EngineClient | null = null;
let texts: { name: string; text: string }[] = [];

const store = () => useStudio.getState();

// Engine events are applied in batches, at most every FLUSH_MS, so a fast run (several steps
// a second, three events each) redraws the charts once a second, not per event: a redraw
// costs the main thread about 100 ms in a production build and 350 ms in development here.
// A change of the run's state is shown at once.
const FLUSH_MS = 1000;
let queued: EngineEvent[] = [];
let timer: ReturnType<typeof setTimeout> | null = null;
let lastFlush = 0;

function flush(): void {
  timer = null;
  lastFlush = performance.now();
  const events = queued;
  queued = [];
  store().onEvents(events);
}

function receive(e: EngineEvent): void {
  queued.push(e);
  if (e.type === 'status') {
    if (timer) clearTimeout(timer);
    timer = setTimeout(flush, 0);
  } else {
    timer ??= setTimeout(flush, Math.max(0, lastFlush + FLUSH_MS - performance.now()));
  }
}

function fail(e: unknown): void {
  const message = e instanceof EngineError || e instanceof Error ? e.message : String(e);
  store().set({ error: message });
}

async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`Could not load ${url} (HTTP ${r.status}).`);
  return r;
}

// Each boot replaces the worker; a boot that a later one replaced (React's StrictMode mounts
// twice in development, the provider can change) drops its results, errors and events.
let generation = 0;

export async function boot(): Promise<void> {
  const mine = ++generation;
  const current = () => mine === generation;
  client?.terminate();
  const c = new EngineClient((e) => current() && receive(e), (message) => current() && store().set({ error: message, run: 'error' }));
  client = c;
  store().set({ run: 'loading', error: null });
  try {
    const init = await c.request('init', { provider: store().settings.provider });
    if (!current()) return;
    store().set({ threads: init.threads });
    const base = DEFAULT_MODEL.url;
    const [config, weights, tokenizer, tokenizerConfig] = await Promise.all([
      fetchOk(`${base}/config.json`).then((r) => r.json()),
      fetchOk(`${base}/model.safetensors`).then((r) => r.arrayBuffer()),
      fetchOk(`${base}/tokenizer.json`).then((r) => r.json()),
      fetch(`${base}/tokenizer_config.json`).then((r) => (r.ok ? r.json() : {})),
    ]);
    // Read before the buffer is transferred to the worker (and detached here).
    const modelFiles = [{ name: 'model.safetensors', bytes: weights.byteLength }];
    const summary = await c.request('load-model', { config, weights, tokenizer, tokenizerConfig }, 120_000, [weights]);
    if (!current()) return;
    store().set({ model: { ...summary, name: DEFAULT_MODEL.name }, modelFiles });
    if (texts.length === 0) {
      const blobs = await Promise.all(DEFAULT_DATA.map(async (d) => ({ name: d.name, blob: await (await fetchOk(d.url)).blob() })));
      const loaded = await Promise.all(blobs.map(async (b) => ({ name: b.name, text: await b.blob.text() })));
      if (!current()) return;
      // A file dropped meanwhile wins over the default data.
      if (texts.length === 0) {
        texts = loaded;
        store().set({ dataFiles: blobs.map((b) => ({ name: b.name, bytes: b.blob.size })) });
      }
    }
    store().set({ run: 'idle' });
  } catch (e) {
    if (!current()) return;
    fail(e);
    store().set({ run: 'error' });
  }
}

export async function addDataFiles(files: File[]): Promise<void> {
  const accepted = files.filter((f) => /\.(txt|md|jsonl)$/i.test(f.name));
  if (accepted.length === 0) {
    store().set({ error: 'Drop .txt, .md or .jsonl files (JSONL lines need a "text" field).' });
    return;
  }
  // Checked before anything is replaced: a bad file leaves the data already loaded in place.
  let loaded: { name: string; text: string }[];
  try {
    loaded = await Promise.all(accepted.map(async (f) => {
      const text = decodeDataset(f.name, new Uint8Array(await f.arrayBuffer()));
      parseDataset(f.name, text);
      return { name: f.name, text };
    }));
  } catch (e) {
    return fail(e);
  }
  texts = loaded;
  store().set({ dataFiles: accepted.map((f) => ({ name: f.name, bytes: f.size })), dataset: null, error: null });
}

export async function start(): Promise<void> {
  if (!client) return;
  const s = store();
  s.set({
    steps: [], memory: [], memoryPeak: null, baseline: null, sparsity: null, dataset: null, step: 0, error: null,
    startedAt: performance.now(), endedAt: null, runSettings: s.settings, run: 'running', pending: null,
  });
  try {
    await client.request('train', { files: texts, settings: s.settings }, 0);
  } catch (e) {
    fail(e);
    store().set({ run: 'error', endedAt: performance.now(), pending: null });
  }
}

/** Pause, resume and stop take effect between steps; the page shows the request until then. */
export function control(action: 'pause' | 'resume' | 'stop'): void {
  if (!client) return;
  store().set({ pending: action });
  client.request('control', { action }).catch((e: unknown) => {
    fail(e);
    store().set({ pending: null });
  });
}

/** The trained run as a .zip from the engine: PEFT's adapter, or the merged model folder. */
export async function exportZip(kind: 'adapter' | 'merged'): Promise<{ name: string; zip: ArrayBuffer; files: { name: string; bytes: number }[] }> {
  if (!client) throw new Error('The engine is not running.');
  return client.request('export', { kind, baseModel: store().model?.name ?? 'model' }, 600_000);
}

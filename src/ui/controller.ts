// Between the page and the engine worker: boots the engine with the default model and data,
// and turns button presses into requests. The store is updated only from engine events and
// request results.
import { EngineClient, EngineError } from '../worker/client';
import { useStudio } from './store';

export const DEFAULT_MODEL = { name: 'lemo-tiny', url: '/models/lemo-tiny' };
export const DEFAULT_DATA = [{ name: 'sotu-long/train.jsonl', url: '/data/sotu-long/train.jsonl' }];

let client: EngineClient | null = null;
let texts: { name: string; text: string }[] = [];

const store = () => useStudio.getState();

function fail(e: unknown): void {
  const message = e instanceof EngineError || e instanceof Error ? e.message : String(e);
  store().set({ error: message });
}

async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`Could not load ${url} (HTTP ${r.status}).`);
  return r;
}

export async function boot(): Promise<void> {
  client?.terminate();
  client = new EngineClient((e) => store().onEvent(e), (message) => store().set({ error: message, run: 'error' }));
  store().set({ run: 'loading', error: null });
  try {
    const init = await client.request('init', { provider: store().settings.provider });
    store().set({ threads: init.threads });
    const base = DEFAULT_MODEL.url;
    const [config, weights, tokenizer, tokenizerConfig] = await Promise.all([
      fetchOk(`${base}/config.json`).then((r) => r.json()),
      fetchOk(`${base}/model.safetensors`).then((r) => r.arrayBuffer()),
      fetchOk(`${base}/tokenizer.json`).then((r) => r.json()),
      fetch(`${base}/tokenizer_config.json`).then((r) => (r.ok ? r.json() : {})),
    ]);
    const summary = await client.request('load-model', { config, weights, tokenizer, tokenizerConfig }, 120_000, [weights]);
    store().set({ model: { ...summary, name: DEFAULT_MODEL.name } });
    if (texts.length === 0) {
      texts = await Promise.all(DEFAULT_DATA.map(async (d) => ({ name: d.name, text: await (await fetchOk(d.url)).text() })));
      store().set({ dataFiles: texts.map((t) => ({ name: t.name, bytes: t.text.length })) });
    }
    store().set({ run: 'idle' });
  } catch (e) {
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
  const loaded = await Promise.all(accepted.map(async (f) => ({ name: f.name, text: await f.text() })));
  texts = loaded;
  store().set({ dataFiles: loaded.map((t) => ({ name: t.name, bytes: t.text.length })), dataset: null, error: null });
}

export async function start(): Promise<void> {
  if (!client) return;
  const s = store();
  s.set({ steps: [], memory: [], memoryPeak: null, step: 0, error: null, startedAt: performance.now(), run: 'running' });
  try {
    await client.request('train', { files: texts, settings: s.settings }, 0);
  } catch (e) {
    fail(e);
    store().set({ run: 'error' });
  }
}

export function control(action: 'pause' | 'resume' | 'stop'): void {
  client?.request('control', { action }).catch(fail);
}

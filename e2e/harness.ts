// Loaded by e2e/harness.html: exposes the engine worker to Playwright as window.harness.
import { EngineClient } from '../src/worker/client';
import type { ProviderChoice } from '../src/worker/protocol';
import { decodeDataset } from '../src/engine/train/data';
import { compareShapeGrads, shapeFiles, type ShapeGolden } from '../test/helpers/shape-gen';

async function fetchJson(url: string): Promise<unknown> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

async function fetchBytes(url: string): Promise<ArrayBuffer> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

/**
 * One engine worker per provider for the page, started when first asked for. onnxruntime keeps
 * the kernels it compiled for the worker's life, so every fixture after the first reuses most of
 * them: under SwiftShader a fresh worker spent about 5 s starting and 13 s compiling for a golden
 * fixture, a shared one about 4 s for each fixture after the first.
 */
const engines = new Map<ProviderChoice, Promise<{ client: EngineClient; provider: string }>>();
function engine(provider: ProviderChoice): Promise<{ client: EngineClient; provider: string }> {
  let e = engines.get(provider);
  if (!e) {
    const client = new EngineClient(() => {});
    e = client.request('init', { provider }).then((init) => ({ client, provider: init.provider }));
    // A worker that failed to start is not kept: the next test starts its own.
    e.catch(() => { engines.delete(provider); client.terminate(); });
    engines.set(provider, e);
  }
  return e;
}

const harness = {
  /**
   * Loss and gradients of a golden fixture folder, computed in the worker with the given provider;
   * `from` names the model and adapter folders when they live elsewhere, with shifted sparse
   * attention's group and the forced keep set of the case, and the LM head's vocabulary rows per chunk.
   */
  async grad(fixture: string, provider: ProviderChoice, from: { model?: string; adapter?: string; group?: number; keep?: unknown; headChunkRows?: number } = {}) {
    const { client, provider: used } = await engine(provider);
    const [model, adapterDir] = [from.model ?? `${fixture}/model`, from.adapter ?? `${fixture}/adapter`];
    await client.request('load-model', { config: await fetchJson(`${model}/config.json`), weights: await fetchBytes(`${model}/model.safetensors`) });
    const tokens = (await fetchJson(`${fixture}/tokens.json`)) as { input_ids: number[][] };
    const adapter = { config: await fetchJson(`${adapterDir}/adapter_config.json`), weights: await fetchBytes(`${adapterDir}/adapter_model.safetensors`) };
    const args = { inputIds: tokens.input_ids, adapter, group: from.group, keep: from.keep, headChunkRows: from.headChunkRows };
    // The first run compiles sessions (and shaders); the second is the one timed.
    await client.request('grad', args, 600_000);
    const r = await client.request('grad', args, 600_000);
    return {
      provider: used,
      loss: r.loss,
      ms: r.ms,
      locations: r.locations,
      kernelRuns: r.kernelRuns,
      headChunks: r.headChunks,
      grads: Object.fromEntries(Object.entries(r.grads).map(([k, v]) => [k, Array.from(v)])),
    };
  },
};

/**
 * A golden of test/fixtures/golden-shapes: its model folder generated here in the page (nothing
 * large crosses from the test), loaded in the worker as dropped files are, and its loss and LoRA
 * gradients (with the golden's keep list, if any) compared with the golden's.
 */
async function gradShape(g: ShapeGolden, provider: ProviderChoice) {
  const { client, provider: used } = await engine(provider);
  const f = shapeFiles(g);
  const buffers = f.weights.map((w) => w.bytes.buffer as ArrayBuffer);
  const weights = f.index ? f.weights.map((w, i) => ({ name: w.name, bytes: buffers[i] })) : buffers[0];
  await client.request('load-model', { config: f.config, weights, index: f.index }, 600_000, buffers);
  const adapter = { config: f.adapter.config, weights: f.adapter.weights.buffer as ArrayBuffer };
  const r = await client.request('grad', { inputIds: g.input_ids, adapter, keep: g.keep }, 600_000);
  return { provider: used, differs: f.differs, kernelRuns: r.kernelRuns, ...compareShapeGrads(g, r.loss, r.grads) };
}

/** lemo bench inside the worker on the default model and training data. */
async function bench(provider: ProviderChoice, ctxs: number[], modes: ('dense' | 'oracle' | 'lemo')[], steps: number, block: number) {
  const client = new EngineClient(() => {});
  try {
    const init = await client.request('init', { provider });
    const base = '/models/lemo-tiny';
    await client.request('load-model', {
      config: await fetchJson(`${base}/config.json`), weights: await fetchBytes(`${base}/model.safetensors`),
      tokenizer: await fetchJson(`${base}/tokenizer.json`), tokenizerConfig: await fetchJson(`${base}/tokenizer_config.json`),
    });
    // The lemo mode chooses blocks with the model's shipped predictors.
    if (modes.includes('lemo')) await client.request('load-predictors', { bytes: await fetchBytes(`${base}/predictors.safetensors`) });
    const text = decodeDataset('train.jsonl.gz', new Uint8Array(await (await fetch('/data/books-long/train.jsonl.gz')).arrayBuffer()));
    const rows = await client.request('bench', { files: [{ name: 'train.jsonl', text }], ctxs, modes, steps, block }, 0);
    return { provider: init.provider, rows };
  } finally {
    client.terminate();
  }
}

/** The WGSL kernels' checks, on the page's own WebGPU device (loaded when first asked for). */
const kernels = () => import('./kernel-check');
/** Lookup tables stored whole against in chunks of rows, on the page's own WebGPU device. */
const tables = () => import('./split-tables-check');

type Harness = typeof harness & { bench: typeof bench; kernels: typeof kernels; tables: typeof tables; gradShape: typeof gradShape };
Object.assign(harness, { bench, kernels, tables, gradShape });
(window as unknown as { harness: Harness }).harness = harness as Harness;
document.body.dataset.ready = 'true';

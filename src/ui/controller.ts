// Between the page and the engine worker: boots the engine with the default model and data,
// and turns button presses into requests. The store is updated only from engine events and
// request results.
import { EngineClient, EngineError } from '../worker/client';
import type { EngineEvent } from '../engine/events';
import type { TextFile } from '../worker/protocol';
import { useStudio, type LoadedPredictors, type Settings, type TextFileInfo } from './store';
import { previewText } from './lib/data-preview';
import { modelFolder, shardFiles, type ModelFolder } from './lib/model-folder';
import { checkDatasetSize, DATASET_NAME, decodeDataset, parseDataset } from '../engine/train/data';
import { checkJsonDepth } from '../engine/model/json';
import { BUNDLED, MEMORY_OVERRIDE } from './lib/bundled';
import { blockSources, settingsProblem } from './lib/run-settings';
import { pageSentence } from './lib/page-sentence';
import { currentForecast, engineSettings, keptAnswer, pageForecastKey, type PageForecast } from './lib/forecast';
import type { ProviderChoice } from '../worker/protocol';
import { nextRunNumber, runName, saveRuns, seriesOf, MAX_RUNS, type RunRecord } from './lib/runs';

/** The model and data the page opens with, under public/. */
export const DEFAULT_MODEL = BUNDLED.model;
export const DEFAULT_DATA = BUNDLED.data;
export const DEFAULT_HELDOUT = BUNDLED.heldout;

let client: EngineClient | null = null;
let texts: TextFile[] = [];
let heldout: TextFile[] = [];
/** The default data and held-out set, kept to return to after dropped files. */
let defaultTexts: { files: TextFile[]; bytes: number[] } | null = null;
let defaultHeldout: { files: TextFile[]; bytes: number[] } | null = null;

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

/** Who hears the generated text as it streams (the prompt card), outside the batched store updates. */
const generatedListeners = new Set<(side: 'base' | 'adapter', text: string) => void>();

export function onGenerated(listener: (side: 'base' | 'adapter', text: string) => void): () => void {
  generatedListeners.add(listener);
  return () => generatedListeners.delete(listener);
}

function receive(e: EngineEvent): void {
  if (e.type === 'generated') {
    for (const l of generatedListeners) l(e.side, e.text);
    return;
  }
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

/** A file the server may not have: null on 404 (or the page itself, which a dev server answers for unknown paths). */
async function fetchOptional(url: string): Promise<ArrayBuffer | null> {
  const r = await fetch(url);
  if (r.status === 404 || (r.ok && (r.headers.get('content-type') ?? '').includes('text/html'))) return null;
  if (!r.ok) throw new Error(`Could not load ${url} (HTTP ${r.status}).`);
  return r.arrayBuffer();
}

const PREDICTORS_FILE = 'predictors.safetensors';
/** The model folder's default keep policy (optional); the engine validates it with the model. */
const POLICY_FILE = 'policy.json';

/** JSON of a model folder's file, or a sentence naming the file. */
function parseJson(text: string, name: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${name} is not valid JSON.`);
  }
  // Nested thousands of levels deep, it could not even be sent to the engine.
  checkJsonDepth(text, name);
  return value;
}

/**
 * Loads predictors into the engine. Without a file lemo is unavailable (not an error); a file the
 * engine refuses leaves the predictors loaded before in place, and returns the engine's sentence.
 */
async function loadPredictors(c: EngineClient, bytes: ArrayBuffer | null, where: string, file = PREDICTORS_FILE): Promise<LoadedPredictors | string> {
  if (!bytes) {
    store().set({ predictors: null, predictorsNote: `${where} has no ${PREDICTORS_FILE}` });
    return store().predictorsNote;
  }
  try {
    const r = await c.request('load-predictors', { bytes }, 120_000, [bytes]);
    const loaded = { name: file, bytes: r.bytes, block: r.block, parameters: r.parameters };
    store().set({ predictors: loaded, predictorsNote: '' });
    return loaded;
  } catch (e) {
    const message = `${file} could not be used: ${e instanceof Error ? e.message : String(e)}`;
    if (!store().predictors) store().set({ predictorsNote: message });
    return message;
  }
}

/** Without predictors, a lemo setting falls back to the oracle. */
function dropLemoIfUnavailable(): void {
  const s = store();
  if (!s.predictors && s.settings.sparsity === 'lemo') s.setSettings({ sparsity: 'oracle' });
}

/** The card's entry of a text file: its size as given and its first characters (tokens come once counted). */
function fileInfo(f: TextFile, bytes: number): TextFileInfo {
  return { name: f.name, bytes, preview: previewText(f.name, f.text) };
}

/** The card's entries with each file's documents and tokens, as the engine counted them. */
function withCounts(infos: TextFileInfo[], counted: { name: string; documents: number; tokens: number }[]): TextFileInfo[] {
  return infos.map((f, i) => (counted[i]?.name === f.name ? { ...f, documents: counted[i].documents, tokens: counted[i].tokens } : f));
}

/** Documents and tokens of the data files (in all and per file), for the dataset card before a run. */
async function countTokens(c: EngineClient, files: TextFile[]): Promise<void> {
  store().set({ dataCount: null });
  try {
    const count = await c.request('count-tokens', { files });
    if (files === texts && c === client) store().set({ dataCount: { documents: count.documents, tokens: count.tokens }, dataFiles: withCounts(store().dataFiles, count.files) });
  } catch (e) {
    // A worker replaced meanwhile (the provider changed) counts them again itself.
    if (files === texts && c === client) fail(e);
  }
}

/** Tokens of each held-out file, for the card. */
async function countHeldout(c: EngineClient, files: TextFile[]): Promise<void> {
  try {
    const count = await c.request('count-tokens', { files });
    if (files === heldout && c === client) store().set({ heldoutFiles: withCounts(store().heldoutFiles, count.files) });
  } catch (e) {
    if (files === heldout && c === client) fail(e);
  }
}

// Each boot replaces the worker; a boot that a later one replaced (React's StrictMode mounts
// twice in development, the provider can change) drops its results, errors and events.
let generation = 0;
/** The default mode was chosen once (a later boot keeps what the user picked). */
let lemoChosen = false;

/** keepError: a restart after a crash keeps the crash's sentence on the page. */
export async function boot(opts: { keepError?: boolean } = {}): Promise<void> {
  const mine = ++generation;
  const current = () => mine === generation;
  client?.terminate();
  const c = new EngineClient((e) => current() && receive(e), (message) => current() && crashed(message));
  client = c;
  store().set({ run: 'loading', interruptedChecked: false, ...(opts.keepError ? {} : { error: null }) });
  try {
    const init = await c.request('init', { provider: store().settings.provider });
    if (!current()) return;
    store().set({ threads: init.threads });
    const base = DEFAULT_MODEL.url;
    const [config, weights, tokenizer, tokenizerConfig, policyBytes] = await Promise.all([
      fetchOk(`${base}/config.json`).then((r) => r.json()),
      fetchOk(`${base}/model.safetensors`).then((r) => r.arrayBuffer()),
      fetchOk(`${base}/tokenizer.json`).then((r) => r.json()),
      fetch(`${base}/tokenizer_config.json`).then((r) => (r.ok ? r.json() : {})),
      fetchOptional(`${base}/${POLICY_FILE}`),
    ]);
    const policy = policyBytes ? parseJson(new TextDecoder().decode(policyBytes), POLICY_FILE) : undefined;
    // Read before the buffer is transferred to the worker (and detached here).
    const modelFiles = [{ name: 'model.safetensors', bytes: weights.byteLength }, ...(policyBytes ? [{ name: POLICY_FILE, bytes: policyBytes.byteLength }] : [])];
    const summary = await c.request('load-model', { config, weights, tokenizer, tokenizerConfig, policy, memoryBudget: MEMORY_OVERRIDE }, 120_000, [weights]);
    if (!current()) return;
    store().set({ model: { ...summary, name: DEFAULT_MODEL.name }, modelFiles });
    const predictors = await loadPredictors(c, await fetchOptional(`${base}/${PREDICTORS_FILE}`), DEFAULT_MODEL.name);
    if (!current()) return;
    // With predictors at hand, LeMo's own mode is the default; without, the oracle.
    if (!lemoChosen) store().setSettings({ sparsity: typeof predictors !== 'string' ? 'lemo' : 'oracle' });
    lemoChosen = true;
    dropLemoIfUnavailable();
    defaultHeldout ??= await fetchTexts(DEFAULT_HELDOUT);
    if (heldout.length === 0) takeHeldout(defaultHeldout, true);
    defaultTexts ??= await fetchTexts(DEFAULT_DATA);
    if (!current()) return;
    // A file dropped meanwhile wins over the default data.
    if (texts.length === 0) takeTexts(defaultTexts, true);
    store().set({ run: 'idle' });
    void countTokens(c, texts);
    void countHeldout(c, heldout);
    void findInterrupted(c);
  } catch (e) {
    if (!current()) return;
    fail(e);
    store().set({ run: 'error' });
  }
}

/** The run going trains on the files shown: other data waits until it has ended. */
const DATA_DURING_RUN = 'Stop the run (or let it finish) before dropping other data: it trains on the files shown.';
const running = () => store().run === 'running' || store().run === 'paused';

/**
 * Moves the engine to another provider: a new worker loads the model again there. A provider this
 * browser cannot run is refused first, by the engine running now; then the choice returns to the
 * provider in use and everything loaded or trained stays.
 */
export async function changeProvider(choice: ProviderChoice): Promise<void> {
  const c = client;
  const previous = store().settings.provider;
  if (choice === previous) return;
  store().setSettings({ provider: choice });
  if (c) {
    try {
      await c.request('check-provider', { provider: choice });
    } catch (e) {
      if (c !== client || store().settings.provider !== choice) return;
      const why = (e instanceof Error ? e.message : String(e)).replace(/\.$/, '');
      store().setSettings({ provider: previous });
      store().set({ error: `${why}; the engine stays on ${store().provider ?? previous}.` });
      return;
    }
    if (c !== client || store().settings.provider !== choice) return;
  }
  await boot();
}

/** Files under public/ (the default data or held-out set), decoded, with their sizes as served. */
async function fetchTexts(list: { name: string; url: string }[]): Promise<{ files: TextFile[]; bytes: number[] }> {
  const blobs = await Promise.all(list.map(async (d) => ({ name: d.name, blob: await (await fetchOk(d.url)).blob() })));
  const files = await Promise.all(blobs.map(async (b) => ({ name: b.name, text: decodeDataset(b.name, new Uint8Array(await b.blob.arrayBuffer())) })));
  return { files, bytes: blobs.map((b) => b.blob.size) };
}

function takeTexts(set: { files: TextFile[]; bytes: number[] }, isDefault: boolean): void {
  texts = set.files;
  store().set({ dataFiles: set.files.map((f, i) => fileInfo(f, set.bytes[i])), dataDefault: isDefault, dataset: null });
}

function takeHeldout(set: { files: TextFile[]; bytes: number[] }, isDefault: boolean): void {
  heldout = set.files;
  store().set({ heldoutFiles: set.files.map((f, i) => fileInfo(f, set.bytes[i])), heldoutDefault: isDefault });
}

const NOT_TEXT = 'Drop .txt, .md or .jsonl files, gzipped or not (JSONL lines need a "text" field).';

/** Dropped files read and checked as datasets (a bad one throws its sentence); null when none is a text file. */
async function readTextFiles(files: File[]): Promise<{ files: TextFile[]; bytes: number[] } | null> {
  const accepted = files.filter((f) => DATASET_NAME.test(f.name));
  if (accepted.length === 0) return null;
  const read = await Promise.all(accepted.map(async (f) => {
    checkDatasetSize(f.name, f.size);
    const text = decodeDataset(f.name, new Uint8Array(await f.arrayBuffer()));
    parseDataset(f.name, text);
    return { name: f.name, text };
  }));
  return { files: read, bytes: accepted.map((f) => f.size) };
}

/**
 * Dropped text files read and checked, or null with the reason on the page (a bad file, or a run
 * going, before or after reading: a run started meanwhile keeps its data, and the card shows it).
 */
async function readDropped(files: File[], duringRun: string): Promise<{ files: TextFile[]; bytes: number[] } | null> {
  const refuse = (error: string) => {
    store().set({ error });
    return null;
  };
  if (running()) return refuse(duringRun);
  let loaded: { files: TextFile[]; bytes: number[] } | null;
  try {
    loaded = await readTextFiles(files);
  } catch (e) {
    fail(e);
    return null;
  }
  if (!loaded) return refuse(NOT_TEXT);
  return running() ? refuse(duringRun) : loaded;
}

/** Dropped data files: they replace the default data, or join the files dropped before (a file of the same name is replaced). */
export async function addDataFiles(files: File[]): Promise<void> {
  // Checked before anything is replaced: a bad file leaves the data already loaded in place.
  const loaded = await readDropped(files, DATA_DURING_RUN);
  if (!loaded) return;
  const names = new Set(loaded.files.map((f) => f.name));
  const kept = store().dataDefault ? [] : texts.map((f, i) => ({ f, bytes: store().dataFiles[i]?.bytes ?? 0 })).filter((k) => !names.has(k.f.name));
  takeTexts({ files: [...kept.map((k) => k.f), ...loaded.files], bytes: [...kept.map((k) => k.bytes), ...loaded.bytes] }, false);
  store().set({ error: null });
  if (client && store().model) await countTokens(client, texts);
}

/** Drops one file from the data; without any left, the default data comes back. */
export async function removeDataFile(name: string): Promise<void> {
  if (running()) return void store().set({ error: DATA_DURING_RUN });
  const i = texts.findIndex((f) => f.name === name);
  if (i < 0 || store().dataDefault) return;
  const bytes = store().dataFiles.map((f) => f.bytes);
  if (texts.length === 1) return restoreDefaultData();
  takeTexts({ files: texts.filter((_, j) => j !== i), bytes: bytes.filter((_, j) => j !== i) }, false);
  if (client && store().model) await countTokens(client, texts);
}

/** Back to the default data, instead of the dropped files. */
export async function restoreDefaultData(): Promise<void> {
  if (running()) return void store().set({ error: DATA_DURING_RUN });
  if (!defaultTexts) return;
  takeTexts(defaultTexts, true);
  if (client && store().model) await countTokens(client, texts);
}

const HELDOUT_DURING_RUN = 'Stop the run (or let it finish) before changing the held-out text: the run evaluates on the files shown.';

/** A dropped held-out file (or files): the run's held-out perplexity is measured on them instead of the default set. */
export async function setHeldoutFiles(files: File[]): Promise<void> {
  const loaded = await readDropped(files, HELDOUT_DURING_RUN);
  if (!loaded) return;
  takeHeldout(loaded, false);
  store().set({ error: null });
  if (client && store().model) await countHeldout(client, heldout);
}

/** Back to the default held-out set. */
export async function restoreDefaultHeldout(): Promise<void> {
  if (running()) return void store().set({ error: HELDOUT_DURING_RUN });
  if (!defaultHeldout) return;
  takeHeldout(defaultHeldout, true);
  if (client && store().model) await countHeldout(client, heldout);
}

/**
 * A folder's weights for the worker: model.safetensors, or the shards its index names (a missing
 * one refused with a sentence). The files themselves go, unread: the worker reads each header
 * first and each tensor when it needs it.
 */
async function folderWeights(folder: ModelFolder): Promise<{ weights: File | File[]; index?: unknown; files: File[] }> {
  if (folder.weights) return { weights: folder.weights, files: [folder.weights] };
  const index = parseJson(await folder.index!.text(), folder.index!.name);
  const shards = shardFiles(folder, index);
  if (typeof shards === 'string') throw new Error(shards);
  return { weights: shards, index, files: [folder.index!, ...shards] };
}

/**
 * Loads a model folder into the running engine. The engine replaces its model only once the
 * new one has loaded, so a bad folder leaves the previous model (and the page) as they were.
 */
export async function loadModelFolder(files: File[], fallbackName?: string): Promise<void> {
  const c = client;
  const s = store();
  if (!c || s.run === 'loading') return void s.set({ error: 'The engine is still starting; drop the model folder again in a moment.' });
  if (s.run === 'running' || s.run === 'paused') return void s.set({ error: 'Stop the run before loading another model.' });
  const previous = s.model?.name;
  // A predictors file alone is for the model loaded now.
  if (files.length === 1 && /\.safetensors$/i.test(files[0].name) && files[0].name !== 'model.safetensors' && previous) {
    s.set({ modelLoading: files[0].name, error: null });
    const loaded = await loadPredictors(c, await files[0].arrayBuffer(), previous, files[0].name);
    store().set({ modelLoading: null, ...(typeof loaded === 'string' ? { error: loaded } : {}) });
    dropLemoIfUnavailable();
    return;
  }
  const folder = modelFolder(files, fallbackName);
  const kept = previous ? ` ${previous} stays loaded.` : '';
  if (typeof folder === 'string') return void s.set({ error: folder + kept });
  s.set({ modelLoading: folder.name, error: null });
  try {
    const parse = async (f: File) => parseJson(await f.text(), f.name);
    const config = await parse(folder.config);
    const tokenizer = await parse(folder.tokenizer);
    const tokenizerConfig = folder.tokenizerConfig ? await parse(folder.tokenizerConfig) : {};
    // Optional; a malformed one is refused with the engine's sentence and the previous model stays.
    const policy = folder.policy ? await parse(folder.policy) : undefined;
    const { weights, index, files: weightFiles } = await folderWeights(folder);
    const summary = await c.request('load-model', { config, weights, index, tokenizer, tokenizerConfig, policy, memoryBudget: MEMORY_OVERRIDE }, 120_000);
    if (c !== client) return;
    store().setSettings({ ropeScale: null });
    store().set({
      ropeNote: null,
      model: { ...summary, name: folder.name },
      modelFiles: [folder.config, ...weightFiles, folder.tokenizer, ...(folder.policy ? [folder.policy] : [])].map((f) => ({ name: f.name, bytes: f.size })),
      steps: [], evals: [], memory: [], memoryPeak: null, baseline: null, sparsity: null, recall: null, dataset: null, step: 0, startedAt: null, runningAt: null, endedAt: null, runSettings: null, currentRunId: null,
      run: 'idle', predictors: null,
    });
    await loadPredictors(c, folder.predictors ? await folder.predictors.arrayBuffer() : null, folder.name);
    dropLemoIfUnavailable();
    await countTokens(c, texts);
    await countHeldout(c, heldout);
  } catch (e) {
    if (c !== client) return;
    const message = e instanceof EngineError || e instanceof Error ? e.message : String(e);
    store().set({ error: `Could not load the model from ${folder.name}: ${message}${kept}` });
  } finally {
    store().set({ modelLoading: null });
  }
}

/** The runs as kept in the browser's storage (where it has one). */
function persistRuns(): void {
  saveRuns(typeof localStorage === 'undefined' ? null : localStorage, store().runs);
}

/** A new run in the runs list, shown on the charts; its series are filled when it ends. */
function beginRun(settings: Settings, suffix = ''): void {
  const s = store();
  const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const record: RunRecord = {
    id, name: runName(nextRunNumber(s.runs), settings, suffix), model: s.model?.name ?? '', settings, state: 'running',
    steps: [], evals: [], memory: [], peak: null, checked: true, createdAt: Date.now(),
  };
  s.set({ runs: [...s.runs, record].slice(-MAX_RUNS), currentRunId: id });
  persistRuns();
}

const RUN_ENDED = new Set(['finished', 'stopped', 'error']);

/** While a run goes, its series are written to the storage at most this often (a reload keeps them). */
const RUN_SAVE_MS = 5000;
let lastRunSave = 0;

// A run's series are written to its record (and the storage) when it ends, and every few
// seconds while it runs.
useStudio.subscribe((s, prev) => {
  if (!s.currentRunId) return;
  const id = s.currentRunId;
  const ended = s.run !== prev.run && RUN_ENDED.has(s.run);
  const due = s.steps !== prev.steps && (s.run === 'running' || s.run === 'paused') && performance.now() - lastRunSave > RUN_SAVE_MS;
  if (!ended && !due) return;
  lastRunSave = performance.now();
  s.set({ runs: s.runs.map((r) => (r.id === id ? { ...r, ...seriesOf(s), state: ended ? s.run : r.state } : r)) });
  persistRuns();
});

/** Shows or hides a run on the charts. */
export function toggleRun(id: string): void {
  store().set({ runs: store().runs.map((r) => (r.id === id ? { ...r, checked: !r.checked } : r)) });
  persistRuns();
}

/** Removes a run from the list (the run going cannot be removed). */
export function deleteRun(id: string): void {
  const s = store();
  if (id === s.currentRunId && running()) return;
  s.set({ runs: s.runs.filter((r) => r.id !== id), ...(id === s.currentRunId ? { currentRunId: null } : {}) });
  persistRuns();
}

/** Runs a kept run's settings again with every token kept, to compare with it. */
export async function compareWithDense(id: string): Promise<void> {
  const run = store().runs.find((r) => r.id === id);
  if (!run) return;
  const number = /^#\d+/.exec(run.name)?.[0] ?? run.name;
  const loaded = store().model?.name;
  if (run.model && loaded && run.model !== loaded) {
    return void store().set({ error: `Run ${number} trained ${run.model}: load ${run.model} to compare it with a dense run (${loaded} is loaded).` });
  }
  await start({ ...store().settings, ...run.settings, sparsity: 'dense' }, ` (dense of ${number})`);
}

/** Starts a run with the page's settings, or with `override` (the page's settings stay as they are). */
export async function start(override?: Settings, suffix = ''): Promise<void> {
  if (!client) return;
  const s = store();
  // A model folder loading replaces the model the run would train.
  if (running() || s.modelLoading !== null) return;
  const settings = override ?? s.settings;
  // Settings no run can use, or a run that would not fit the memory, are refused before anything of the last run is cleared.
  const problem = settingsProblem(settings, blockSources(s));
  if (problem) return void s.set({ error: problem });
  // The card's forecast of these very settings (and the model and predictors loaded) refuses at
  // once; any other run, or one whose forecast has not come yet, the engine checks itself as it starts.
  const refusal = currentForecast(s, settings)?.refusal ?? null;
  if (refusal) return void s.set({ error: pageSentence(refusal) });
  s.set({
    steps: [], evals: [], memory: [], memoryPeak: null, baseline: null, sparsity: null, recall: null, dataset: null, step: 0, error: null,
    startedAt: performance.now(), runningAt: null, endedAt: null, pausedAt: null, pausedMs: 0, runSettings: settings, run: 'running', pending: null, notices: [], checkpoint: null, interrupted: null,
  });
  beginRun(settings, suffix);
  await train(client, settings, false);
}

// The forecast card follows the settings, the model and the predictors, once they rest for a
// moment; until the answer for the ones shown comes, the card says it is pending.
const FORECAST_MS = 250;
let forecastTimer: ReturnType<typeof setTimeout> | null = null;
/** The key of the forecast asked and not yet answered. */
let forecastAsked: string | null = null;

async function refreshForecast(): Promise<void> {
  forecastTimer = null;
  const s = store();
  const c = client;
  // A run going keeps the forecast it started with; other settings are forecast once it ends.
  if (!c || running()) return;
  const key = pageForecastKey(s);
  if (key === null || s.forecast?.key === key || forecastAsked === key) return;
  forecastAsked = key;
  let value: PageForecast | null = null;
  try {
    value = await c.request('forecast', { settings: engineSettings(s.settings) });
  } catch {
    // No forecast for these settings: the card stays away (Start's own check names the problem).
  } finally {
    if (forecastAsked === key) forecastAsked = null;
  }
  // An answer for settings, a model or predictors no longer shown is dropped. The worker answers
  // in the order it was asked, so an answer it computed after a load (of a model or predictors)
  // comes after that load's reply, once the page's key has moved on: it is dropped too.
  const kept = keptAnswer(store(), key, value);
  if (c === client && kept) store().set({ forecast: kept });
}

useStudio.subscribe((s, prev) => {
  if (s.settings === prev.settings && s.model === prev.model && s.predictors === prev.predictors && s.run === prev.run) return;
  if (forecastTimer) clearTimeout(forecastTimer);
  forecastTimer = setTimeout(() => void refreshForecast(), FORECAST_MS);
});

/** Runs (or resumes) training; when the run fails, what it left to resume is offered. */
async function train(c: EngineClient, settings: Settings, resume: boolean): Promise<void> {
  const evalEvery = heldout.length ? settings.evalEvery : 0;
  store().set({ runHeldout: heldout.map((f) => f.name).join(', ') + (store().heldoutDefault ? ' (the default held-out set)' : '') });
  try {
    await c.request('train', { files: texts, settings: engineSettings(settings), heldout: { files: heldout, every: evalEvery, chunks: settings.evalChunks }, resume }, 0);
  } catch (e) {
    if (c !== client) return; // a crash already restarted the engine
    fail(e);
    // A run the engine stopped with a reason (the browser's storage full, NaN steps in a row) keeps
    // the adapter of its last good step: it ends as after Stop, and can be exported.
    const stopped = e instanceof EngineError && e.detail.stopped !== undefined;
    store().set({ run: stopped ? 'stopped' : 'error', endedAt: performance.now(), pending: null });
    // The worker's own sentence (bad data, NaN steps) leaves it working; anything else restarts it.
    if (e instanceof EngineError && e.detail.user) void findInterrupted(c);
    else void boot({ keepError: true });
  }
}

/** The worker crashed (or lost its GPU): during a run, restart it so the page can offer to resume. */
function crashed(message: string): void {
  const during = store().run === 'running' || store().run === 'paused';
  store().set({ error: message, run: 'error', endedAt: performance.now(), pending: null });
  if (during) void boot({ keepError: true });
}

async function findInterrupted(c: EngineClient): Promise<void> {
  try {
    const run = await c.request('interrupted-run', {});
    if (c === client) store().set({ interrupted: run, interruptedChecked: true });
  } catch (e) {
    if (c === client) store().set({ interrupted: null, interruptedChecked: true, error: (e as Error).message });
  }
}

/** Continues the interrupted run from its checkpoint, with its settings and data. */
export async function resumeRun(): Promise<void> {
  const s = store();
  const run = s.interrupted;
  if (!client || !run) return;
  const settings: Settings = { ...s.settings, ...run.settings };
  s.set({
    settings, steps: [], evals: [], memory: [], memoryPeak: null, baseline: null, sparsity: null, recall: null, dataset: null, step: run.step, error: null,
    startedAt: performance.now(), runningAt: null, endedAt: null, pausedAt: null, pausedMs: 0, runSettings: settings, run: 'running', pending: null, notices: [], checkpoint: null, interrupted: null,
  });
  // The interrupted run's record (the last one, cut short by a reload or a crash) continues; else a new one.
  const last = s.runs[s.runs.length - 1];
  if (last && (last.state === 'interrupted' || last.state === 'error')) {
    s.set({ runs: s.runs.map((r) => (r === last ? { ...r, state: 'running', checked: true } : r)), currentRunId: last.id });
    persistRuns();
  } else {
    beginRun(settings, ' (resumed)');
  }
  await train(client, settings, true);
}

export async function discardRun(): Promise<void> {
  if (!client) return;
  store().set({ interrupted: null });
  await client.request('discard-run', {}).catch(fail);
}

// Tests end the worker as a crash would (the development server and the tests' build only).
if ((import.meta.env.DEV || import.meta.env.MODE === 'e2e') && typeof window !== 'undefined') {
  (window as unknown as { lemoDebug: object }).lemoDebug = { killEngine: () => client?.terminate() };
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

/** Continues a prompt with the base model or the adapter trained here; the text also streams to onGenerated's listeners. */
export async function generateText(args: { prompt: string; side: 'base' | 'adapter'; maxTokens: number; temperature: number; topP: number; seed: number }): Promise<{ text: string; tokens: number }> {
  if (!client) throw new Error('The engine is not ready yet.');
  return client.request('generate', args, 0);
}

export function stopGenerating(): void {
  void client?.request('stop-generate', {});
}

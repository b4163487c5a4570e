// The memory forecast card's figures and its verdict in plain words, and which answer of the
// engine belongs to the settings, model and predictors shown (an answer for others is never shown).
import type { RunForecast } from '../../engine/run/forecast';
import type { TrainSettings } from '../../engine/settings';
import type { Settings, StudioState } from '../store';
import { fmtBytes } from './format';
import { pageSentence } from './page-sentence';
import { blockSources, settingsIssue } from './run-settings';

export type PageForecast = RunForecast & { refusal: string | null };

/** The engine's forecast for the settings, model and predictors of `key` (value null: it gave none for them). */
export interface ForecastAnswer {
  key: string;
  value: PageForecast | null;
}

/**
 * The rows of the card: bytes by kind, dense and with token elimination; with offload, what waits
 * in host memory, and (disk) in the browser's storage, which is no memory and comes after the peak.
 */
export function forecastRows(f: RunForecast): { label: string; dense: number; sparse: number }[] {
  const row = (label: string, pick: (s: RunForecast['dense']) => number) => ({ label, dense: pick(f.dense), sparse: pick(f.sparse) });
  return [
    row('weights', (s) => s.split.weights),
    row('LoRA + optimizer', (s) => s.split.adapter + s.split.optimizer),
    row('activations', (s) => s.split.activations),
    ...(f.offload === 'host' ? [row('offloaded to host memory', (s) => s.split.offloaded)] : []),
    row('gradients', (s) => s.split.gradients),
    row('transient', (s) => s.split.transient),
    row('peak', (s) => s.peak),
    ...(f.offload === 'disk' ? [row('in browser storage (not memory)', (s) => s.stored)] : []),
  ];
}

/** What the card's heading adds for the offload chosen. */
export function offloadNote(f: Pick<RunForecast, 'offload'>): string {
  if (f.offload === 'disk') return ', saved activations offloaded to browser storage';
  return f.offload === 'host' ? ', saved activations offloaded to host memory' : '';
}

/** One sentence: what fits this tab's budget, and the reason Start is refused when neither does. */
export function forecastVerdict(f: PageForecast): string {
  const mode = f.sparse.mode;
  if (f.refusal) return pageSentence(f.refusal);
  const heap = f.budget?.heap;
  // Under WASM each run also works within WebAssembly's memory (weights and saved tensors wait outside it).
  const runs = heap ? ` Its largest run holds about ${fmtBytes(f.dense.runPeak)} dense, ${fmtBytes(f.sparse.runPeak)} with ${mode}, of ${fmtBytes(heap.bytes)} (${heap.source}).` : '';
  if (!f.budget || !Number.isFinite(f.budget.bytes)) {
    const t = f.budget?.maxTensor;
    const where = heap ? 'this device' : 'the GPU';
    return `Dense would peak at about ${fmtBytes(f.dense.peak)}, ${mode} at about ${fmtBytes(f.sparse.peak)}; the browser reports no memory size for ${where}${t ? `, whose buffers take at most ${fmtBytes(t.bytes)} each (${t.source}): both fit that` : ''}.${runs}`;
  }
  const budget = `${fmtBytes(f.budget.bytes)} (${f.budget.source})`;
  const fits = (s: PageForecast['dense']) => s.peak <= f.budget!.bytes && (!heap || s.runPeak <= heap.bytes);
  const [dense, sparse] = [fits(f.dense), fits(f.sparse)];
  if (dense && sparse) return `Both fit in ${budget}: dense at about ${fmtBytes(f.dense.peak)}, ${mode} at about ${fmtBytes(f.sparse.peak)}.${runs}`;
  if (sparse) return `Dense will not fit in ${budget}: it needs about ${fmtBytes(f.dense.peak)}. ${mode[0].toUpperCase()}${mode.slice(1)} fits, at about ${fmtBytes(f.sparse.peak)}.${runs}`;
  return `This run fits in ${budget} at about ${fmtBytes(f.dense.peak)}; ${mode} would need about ${fmtBytes(f.sparse.peak)}.${runs}`;
}

/** The engine's part of the page's settings: what a run (and its forecast) is asked with. */
export function engineSettings(s: Settings): TrainSettings {
  const { provider: _p, evalEvery: _e, evalChunks: _c, ...train } = s;
  return train;
}

// Each model and predictors object the page holds is a load of its own (the same folder loaded
// twice is two loads): a number per object names it in a forecast's key.
const loads = new WeakMap<object, number>();
let lastLoad = 0;
function loadOf(x: object | null): number {
  if (!x) return 0;
  let n = loads.get(x);
  if (n === undefined) loads.set(x, (n = ++lastLoad));
  return n;
}

/** What a forecast is of: these settings with this model and these predictors loaded. */
export function forecastKey(settings: Settings, model: object, predictors: object | null): string {
  return `${loadOf(model)}/${loadOf(predictors)}/${JSON.stringify(engineSettings(settings))}`;
}

/** The page's state a forecast depends on. */
export type ForecastSubject = Pick<StudioState, 'settings' | 'model' | 'predictors' | 'run'>;

/** The key of the forecast the page needs now; null when it needs none (no model, the engine starting, settings no run can use). */
export function pageForecastKey(s: ForecastSubject): string | null {
  if (!s.model || s.run === 'loading' || settingsIssue(s.settings, blockSources(s))) return null;
  return forecastKey(s.settings, s.model, s.predictors);
}

/** The engine's answer for `key`, to keep; null (dropped) when the page shows other settings, another model or other predictors by now. */
export function keptAnswer(s: ForecastSubject, key: string, value: PageForecast | null): ForecastAnswer | null {
  return pageForecastKey(s) === key ? { key, value } : null;
}

/**
 * The forecast the card shows: the engine's answer for exactly the settings, model and predictors
 * shown; 'pending' while that answer has not come (or a model folder is loading); null when there
 * is none to show (see pageForecastKey; or the engine gave none for these settings).
 */
export function shownForecast(s: ForecastSubject & Pick<StudioState, 'forecast' | 'modelLoading'>): PageForecast | 'pending' | null {
  const key = pageForecastKey(s);
  if (key === null) return null;
  if (s.modelLoading !== null || s.forecast?.key !== key) return 'pending';
  return s.forecast.value;
}

/** The forecast of `settings` with the page's model and predictors, when the page holds the answer for exactly them; else null. */
export function currentForecast(s: Pick<StudioState, 'model' | 'predictors' | 'forecast' | 'modelLoading'>, settings: Settings): PageForecast | null {
  if (!s.model || s.modelLoading !== null || !s.forecast) return null;
  return s.forecast.key === forecastKey(settings, s.model, s.predictors) ? s.forecast.value : null;
}

import { describe, expect, it } from 'vitest';
import { currentForecast, engineSettings, forecastRows, forecastVerdict, keptAnswer, offloadNote, pageForecastKey, shownForecast, type PageForecast } from './forecast';
import { useStudio, type StudioState } from '../store';
import { pageSentence } from './page-sentence';
import { ropeForContext, ropeProblem } from './rope-scale';

const kinds = (activations: number) => ({ weights: 30e6, adapter: 1e6, optimizer: 2e6, gradients: 0, activations, offloaded: 0, transient: 10e6 });
const step = (activations: number) => ({ peak: 43e6 + activations, split: kinds(activations), keptRows: [], largestTensor: 8e6, runPeak: activations / 4, stored: 0 });
const gpu = { bytes: 128e6, source: "this GPU's maxStorageBufferBindingSize" };
const forecast = (budget: number | null, refusal: string | null = null, maxTensor: typeof gpu | null = null): PageForecast => ({
  batch: 1, ctx: 2048, dense: step(200e6), sparse: { ...step(50e6), mode: 'lemo' }, offload: 'none', withDisk: null, budget: budget === null ? null : { bytes: budget, source: 'a test budget', maxTensor, heap: null }, refusal,
});

describe('the forecast card', () => {
  it('lists each kind and the peak, dense beside lemo', () => {
    const rows = forecastRows(forecast(1e9));
    expect(rows.map((r) => r.label)).toEqual(['weights', 'LoRA + optimizer', 'activations', 'gradients', 'transient', 'peak']);
    expect(rows[1]).toEqual({ label: 'LoRA + optimizer', dense: 3e6, sparse: 3e6 });
    expect(rows.at(-1)).toEqual({ label: 'peak', dense: 243e6, sparse: 93e6 });
    expect(offloadNote(forecast(1e9))).toBe('');
  });

  it('with disk offload, lists what waits in the browser’s storage after the peak, apart from memory', () => {
    const f = forecast(1e9);
    const disk: PageForecast = { ...f, offload: 'disk', dense: { ...f.dense, stored: 180e6 }, sparse: { ...f.sparse, stored: 40e6 } };
    const rows = forecastRows(disk);
    expect(rows.map((r) => r.label)).toEqual(['weights', 'LoRA + optimizer', 'activations', 'gradients', 'transient', 'peak', 'in browser storage (not memory)']);
    expect(rows.at(-1)).toEqual({ label: 'in browser storage (not memory)', dense: 180e6, sparse: 40e6 });
    expect(offloadNote(disk)).toBe(', saved activations offloaded to browser storage');
    const host: PageForecast = { ...f, offload: 'host', dense: { ...f.dense, split: { ...f.dense.split, offloaded: 150e6 } } };
    expect(forecastRows(host)[3]).toEqual({ label: 'offloaded to host memory', dense: 150e6, sparse: 0 });
  });

  it('says plainly when both fit, when dense will not and lemo will, and gives the refusal when neither does', () => {
    expect(forecastVerdict(forecast(1e9))).toBe('Both fit in 1.00 GB (a test budget): dense at about 243.0 MB, lemo at about 93.0 MB.');
    expect(forecastVerdict(forecast(100e6))).toBe('Dense will not fit in 100.0 MB (a test budget): it needs about 243.0 MB. Lemo fits, at about 93.0 MB.');
    expect(forecastVerdict(forecast(10e6, 'A lemo run of 1 × 2048 tokens would peak at about 0.09 GiB: lower the batch (--batch) or the context (--ctx).')))
      .toBe('A lemo run of 1 × 2048 tokens would peak at about 0.09 GiB: lower the batch or the context.');
    expect(forecastVerdict(forecast(null))).toBe('Dense would peak at about 243.0 MB, lemo at about 93.0 MB; the browser reports no memory size for the GPU.');
    // Under WASM: each run within the heap, the total within the device's memory (or none known).
    const wasm = (budget: number, heapBytes: number): PageForecast => ({ ...forecast(budget), budget: { bytes: budget, source: 'a test budget', maxTensor: null, heap: { bytes: heapBytes, source: 'a test heap' } } });
    expect(forecastVerdict(wasm(1e9, 100e6))).toBe('Both fit in 1.00 GB (a test budget): dense at about 243.0 MB, lemo at about 93.0 MB. Its largest run holds about 50.0 MB dense, 12.5 MB with lemo, of 100.0 MB (a test heap).');
    expect(forecastVerdict(wasm(1e9, 40e6))).toMatch(/^Dense will not fit in 1\.00 GB \(a test budget\): it needs about 243\.0 MB\. Lemo fits/);
    expect(forecastVerdict(wasm(Infinity, 100e6))).toBe('Dense would peak at about 243.0 MB, lemo at about 93.0 MB; the browser reports no memory size for this device. Its largest run holds about 50.0 MB dense, 12.5 MB with lemo, of 100.0 MB (a test heap).');
    expect(forecastVerdict(forecast(Infinity, null, gpu))).toBe("Dense would peak at about 243.0 MB, lemo at about 93.0 MB; the browser reports no memory size for the GPU, whose buffers take at most 128.0 MB each (this GPU's maxStorageBufferBindingSize): both fit that.");
  });
});

describe('sentences on the page', () => {
  it('name no flag of the lemo command', () => {
    expect(pageSentence('A linear RoPE scale of 4 (--rope-scale 4) reaches 4096.')).toBe('A linear RoPE scale of 4 reaches 4096.');
    expect(pageSentence('a linear RoPE scale (--rope-scale) cannot be added to it: leave --rope-scale out.')).toBe('a linear RoPE scale cannot be added to it: leave the RoPE scale out.');
    expect(pageSentence('use a shorter --ctx or longer documents; --layers lists one twice')).toBe('use a shorter the context length or longer documents; layers lists one twice');
    expect(pageSentence('a step of 1 − 2 tokens -- fine')).toBe('a step of 1 − 2 tokens -- fine');
  });
});

describe('the RoPE scale field', () => {
  const tiny = { maxPositions: 1024, ropeScale: 1 };
  it('is set when the context passes the positions, with why, and returns to the model’s own when the context fits again', () => {
    const set = ropeForContext(3000, tiny, { ropeScale: null, note: null });
    expect(set).toEqual({ ropeScale: 3, note: "Set to 3: 3000 tokens pass this model's 1024 positions, and a linear RoPE scale of 3 reaches 3072." });
    expect(ropeForContext(2048, tiny, set)).toEqual(set);
    expect(ropeForContext(512, tiny, set)).toEqual({ ropeScale: null, note: null });
    // The user's own scale stays while it reaches the context.
    expect(ropeForContext(512, tiny, { ropeScale: 2, note: null })).toEqual({ ropeScale: 2, note: null });
    expect(ropeForContext(4096, { maxPositions: 1024, ropeScale: null }, { ropeScale: null, note: null })).toEqual({ ropeScale: null, note: null });
  });

  it('refuses a scale out of range or short of the context, and any scale on a model that cannot take one', () => {
    expect(ropeProblem({ ctx: 2048, ropeScale: 2 }, tiny)).toBeNull();
    expect(ropeProblem({ ctx: 2048, ropeScale: null }, tiny)).toMatch(/^A RoPE scale of 1 reaches 1024 tokens .* use a RoPE scale of at least 2/);
    expect(ropeProblem({ ctx: 64, ropeScale: -1 }, tiny)).toMatch(/^The RoPE scale must be a number above 0 and at most 1024 \(it is -1\)/);
    expect(ropeProblem({ ctx: 64, ropeScale: 2000 }, tiny)).toMatch(/it is 2000/);
    expect(ropeProblem({ ctx: 64, ropeScale: 2 }, { maxPositions: 1024, ropeScale: null })).toMatch(/cannot be scaled linearly/);
  });
});

describe('which forecast the card shows and Start uses', () => {
  const model = (name: string, layers: number): NonNullable<StudioState['model']> => ({
    name, architecture: 'LlamaForCausalLM', family: 'llama', parameters: layers * 1e6, layers, hidden: 64, heads: 4, kvHeads: 4, vocabSize: 8192, maxPositions: 1024, weightBytes: layers * 4e6, ropeScale: 1, policy: null,
  });
  const answer = (peak: number): PageForecast => ({ ...forecast(1e9), dense: { ...step(200e6), peak } });
  type Page = Pick<StudioState, 'settings' | 'model' | 'predictors' | 'run' | 'forecast' | 'modelLoading'>;
  const page = (patch: Partial<Page> = {}): Page => ({
    settings: { ...useStudio.getState().settings, ctx: 128, batch: 1, steps: 1, sparsity: 'oracle', block: 16, policy: null },
    model: model('first', 2), predictors: null, run: 'idle', forecast: null, modelLoading: null, ...patch,
  });
  /** The controller's round: the key asked, then the engine's answer applied to the page as it is by then. */
  const answered = (now: Page, key: string, value: PageForecast | null): Page => ({ ...now, forecast: keptAnswer(now, key, value) ?? now.forecast });

  it('shows a forecast only for the model it was asked for: after another model loads it is pending, and the first model’s late answer is dropped', () => {
    let s = page();
    const first = pageForecastKey(s)!;
    s = answered(s, first, answer(100e6));
    expect(shownForecast(s)).toEqual(answer(100e6));
    // A second folder dropped: pending while it loads, still pending once it is in, whatever the first model's answer.
    s = { ...s, modelLoading: 'second' };
    expect(shownForecast(s)).toBe('pending');
    s = { ...s, modelLoading: null, model: model('second', 4) };
    expect(shownForecast(s)).toBe('pending');
    expect(currentForecast(s, s.settings)).toBeNull();
    const second = pageForecastKey(s)!;
    expect(second).not.toBe(first);
    s = answered(s, first, answer(100e6));
    expect(shownForecast(s)).toBe('pending');
    s = answered(s, second, answer(300e6));
    expect(shownForecast(s)).toEqual(answer(300e6));
    expect(currentForecast(s, { ...s.settings })).toEqual(answer(300e6));
    // The same folder loaded again is another load: its forecast is asked anew.
    s = { ...s, model: { ...s.model! } };
    expect(shownForecast(s)).toBe('pending');
  });

  it('ties each answer to the context, batch, mode and predictors it was asked with, whatever order the answers come in', () => {
    let s = page();
    const at128 = pageForecastKey(s)!;
    s = { ...s, settings: { ...s.settings, ctx: 256 } };
    const at256 = pageForecastKey(s)!;
    s = answered(s, at256, answer(256e6));
    s = answered(s, at128, answer(128e6));
    expect(shownForecast(s)).toEqual(answer(256e6));
    for (const patch of [{ ctx: 512 }, { batch: 2 }, { sparsity: 'dense' as const }, { loraR: 16 }]) {
      const changed = { ...s, settings: { ...s.settings, ...patch } };
      expect(shownForecast(changed)).toBe('pending');
      expect(currentForecast(changed, changed.settings)).toBeNull();
      // Start with settings of its own (a dense run beside one) uses only the forecast of those.
      expect(currentForecast(s, changed.settings)).toBeNull();
    }
    expect(shownForecast({ ...s, predictors: { name: 'predictors.safetensors', bytes: 1, block: 16, parameters: 1 } })).toBe('pending');
    // What the engine is not asked with (held-out evaluation, the provider's choice) keeps the forecast.
    const heldout = { ...s, settings: { ...s.settings, evalEvery: 0, provider: 'wasm' as const } };
    expect(shownForecast(heldout)).toEqual(answer(256e6));
    expect(engineSettings(heldout.settings)).not.toHaveProperty('evalEvery');
  });

  it('shows nothing while the engine starts, for settings no run can use, or when the engine gave no forecast', () => {
    const s = page();
    const key = pageForecastKey(s)!;
    expect(shownForecast({ ...s, run: 'loading' })).toBeNull();
    expect(shownForecast({ ...s, model: null })).toBeNull();
    expect(shownForecast({ ...s, settings: { ...s.settings, ctx: 100 } })).toBeNull();
    expect(shownForecast(answered(s, key, null))).toBeNull();
    expect(keptAnswer({ ...s, run: 'loading' }, key, answer(1))).toBeNull();
  });
});

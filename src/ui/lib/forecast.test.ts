import { describe, expect, it } from 'vitest';
import { forecastRows, forecastVerdict, type PageForecast } from './forecast';
import { pageSentence } from './page-sentence';
import { ropeForContext, ropeProblem } from './rope-scale';

const kinds = (activations: number) => ({ weights: 30e6, adapter: 1e6, optimizer: 2e6, gradients: 0, activations, offloaded: 0, transient: 10e6 });
const step = (activations: number) => ({ peak: 43e6 + activations, split: kinds(activations), keptRows: [], largestTensor: 8e6, runPeak: activations / 4 });
const gpu = { bytes: 128e6, source: "this GPU's maxStorageBufferBindingSize" };
const forecast = (budget: number | null, refusal: string | null = null, maxTensor: typeof gpu | null = null): PageForecast => ({
  batch: 1, ctx: 2048, dense: step(200e6), sparse: { ...step(50e6), mode: 'lemo' }, budget: budget === null ? null : { bytes: budget, source: 'a test budget', maxTensor, heap: null }, refusal,
});

describe('the forecast card', () => {
  it('lists each kind and the peak, dense beside lemo', () => {
    const rows = forecastRows(forecast(1e9));
    expect(rows.map((r) => r.label)).toEqual(['weights', 'LoRA + optimizer', 'activations', 'gradients', 'transient', 'peak']);
    expect(rows[1]).toEqual({ label: 'LoRA + optimizer', dense: 3e6, sparse: 3e6 });
    expect(rows.at(-1)).toEqual({ label: 'peak', dense: 243e6, sparse: 93e6 });
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

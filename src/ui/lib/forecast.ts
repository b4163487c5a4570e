// The memory forecast card's figures and its verdict in plain words.
import type { RunForecast } from '../../engine/run/forecast';
import { fmtBytes } from './format';
import { pageSentence } from './page-sentence';

export type PageForecast = RunForecast & { refusal: string | null };

/** The rows of the card: bytes by kind, dense and with token elimination. */
export function forecastRows(f: RunForecast): { label: string; dense: number; sparse: number }[] {
  const row = (label: string, pick: (s: RunForecast['dense']) => number) => ({ label, dense: pick(f.dense), sparse: pick(f.sparse) });
  return [
    row('weights', (s) => s.split.weights),
    row('LoRA + optimizer', (s) => s.split.adapter + s.split.optimizer),
    row('activations', (s) => s.split.activations),
    row('gradients', (s) => s.split.gradients),
    row('transient', (s) => s.split.transient),
    row('peak', (s) => s.peak),
  ];
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

import { describe, expect, it } from 'vitest';
import type { ByKind } from '../engine/events';
import { useStudio } from './store';

const split: ByKind = { weights: 1, adapter: 2, optimizer: 3, gradients: 4, activations: 5, offloaded: 0, transient: 6 };

describe('the studio store', () => {
  it('takes the baseline, sparsity and memory events of a run in one batch', () => {
    useStudio.getState().onEvents([
      { type: 'baseline', peakTotal: 21, peakSplit: split, source: 'a dense step' },
      { type: 'status', state: 'running', step: 0 },
      { type: 'memory', step: 1, samples: [{ t: 5, phase: 'fwd', bytes: split }, { t: 9, phase: 'bwd', bytes: split }], peakTotal: 21, peakSplit: split },
      { type: 'sparsity', step: 1, block: 2, blocks: 3, kept: [null, [1]], recall: null, blockText: ['a', 'b', 'c'] },
      { type: 'memory', step: 2, samples: [{ t: 12, phase: 'fwd', bytes: split }], peakTotal: 22, peakSplit: split },
    ]);
    const s = useStudio.getState();
    expect(s.baseline).toEqual({ peakTotal: 21, peakSplit: split, source: 'a dense step' });
    expect(s.sparsity?.kept).toEqual([null, [1]]);
    expect(s.memory.map((m) => m.step)).toEqual([1, 1, 2]);
    expect(s.memoryPeak?.total).toBe(22);
    expect(s.run).toBe('running');
  });

  it('clears a pending control when the engine reports its state', () => {
    useStudio.getState().set({ pending: 'pause', endedAt: null });
    useStudio.getState().onEvents([{ type: 'status', state: 'paused', step: 4 }]);
    expect(useStudio.getState().pending).toBeNull();
    expect(useStudio.getState().endedAt).toBeNull();
    useStudio.getState().onEvents([{ type: 'status', state: 'stopped', step: 4 }]);
    expect(useStudio.getState().endedAt).not.toBeNull();
  });
});

describe('elapsed time', () => {
  it('stops while the run is paused and goes on after it resumes', async () => {
    const { pauseClock, elapsedMs } = await import('./store');
    let c = { runningAt: 1000, endedAt: null as number | null, pausedAt: null as number | null, pausedMs: 0 };
    expect(elapsedMs(c, 3000)).toBe(2000);
    c = { ...c, ...pauseClock(c, 'paused', 3000) };
    expect(elapsedMs(c, 9000)).toBe(2000);
    c = { ...c, ...pauseClock(c, 'paused', 5000) };
    expect(c.pausedAt).toBe(3000);
    c = { ...c, ...pauseClock(c, 'running', 10_000) };
    expect(elapsedMs(c, 11_000)).toBe(3000);
    c = { ...c, ...pauseClock(c, 'stopped', 12_000), endedAt: 12_000 };
    expect(elapsedMs(c, 20_000)).toBe(4000);
  });
});

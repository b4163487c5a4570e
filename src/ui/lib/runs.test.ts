import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, STUDIO_DEFAULTS } from '../../engine/settings';
import { drawnRuns, loadRuns, memoryByStep, nextRunNumber, parseRuns, RUNS_KEY, saveRuns, type RunRecord } from './runs';

const settings = { ...DEFAULT_SETTINGS, ...STUDIO_DEFAULTS };
const record = (id: string, over: Partial<RunRecord> = {}): RunRecord => ({
  id, name: `#${id} lemo`, model: 'lemo-tiny', settings, state: 'finished', steps: [[1, 5], [2, 4]], evals: [[2, 4.5, 90]], memory: [[1, 100], [2, 120]], peak: 120, checked: true, createdAt: 1, ...over,
});

function memoryStorage() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
}

describe('runs kept to compare', () => {
  it('round-trips through storage, a run cut short reading as interrupted', () => {
    const storage = memoryStorage();
    saveRuns(storage, [record('1'), record('2', { state: 'running' })]);
    const back = loadRuns(storage);
    expect(back.map((r) => [r.id, r.state])).toEqual([['1', 'finished'], ['2', 'interrupted']]);
    expect(back[0].steps).toEqual([[1, 5], [2, 4]]);
  });

  it('ignores what is not a list of runs, and drops only the runs that do not read', () => {
    expect(parseRuns('not json')).toEqual([]);
    expect(parseRuns('{"a":1}')).toEqual([]);
    expect(parseRuns(JSON.stringify([record('1'), { id: 2 }])).map((r) => r.id)).toEqual(['1']);
  });

  it('leaves the oldest runs out when storage is full', () => {
    const m = new Map<string, string>();
    const one = JSON.stringify([record('3')]).length;
    const storage = { setItem: (k: string, v: string) => { if (v.length > one) throw new Error('quota'); m.set(k, v); } };
    saveRuns(storage, [record('1'), record('2'), record('3')]);
    expect(parseRuns(m.get(RUNS_KEY) ?? null).map((r) => r.id)).toEqual(['3']);
  });

  it('draws the checked runs in their colours, the live one from the page state', () => {
    const runs = [record('1'), record('2', { checked: false }), record('3', { steps: [], memory: [], peak: null, state: 'running' })];
    const live = {
      steps: [{ step: 1, loss: 3 }], evals: [],
      memory: [{ step: 1, bytes: { weights: 10, activations: 5 } }, { step: 1, bytes: { weights: 10, activations: 7 } }],
      memoryPeak: { total: 17 },
    };
    const drawn = drawnRuns(runs, '3', live);
    expect(drawn.map((d) => d.id)).toEqual(['1', '3']);
    expect(drawn[0].color).not.toEqual(drawn[1].color);
    expect(drawn[1]).toMatchObject({ live: true, steps: [[1, 3]], memory: [[1, 17]], peak: 17 });
  });

  it('numbers runs one above the highest kept', () => {
    expect(nextRunNumber([])).toBe(1);
    expect(nextRunNumber([record('a', { name: '#4 dense' }), record('b', { name: '#2 lemo' })])).toBe(5);
    expect(memoryByStep([{ step: 2, bytes: { a: 1 } }, { step: 1, bytes: { a: 3, b: 1 } }])).toEqual([[1, 4], [2, 1]]);
  });
});

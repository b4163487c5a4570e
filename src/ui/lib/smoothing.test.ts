import { describe, expect, it } from 'vitest';
import { ema, emaPoints } from './smoothing';

describe('loss smoothing', () => {
  it('is the values themselves at 0, and a debiased moving average above', () => {
    expect(ema([3, 1, 2], 0)).toEqual([3, 1, 2]);
    const s = ema([4, 2], 0.5);
    expect(s[0]).toBeCloseTo(4);
    // (0.5·0.5·4 + 0.5·2) / (1 − 0.25)
    expect(s[1]).toBeCloseTo((0.25 * 4 + 0.5 * 2) / 0.75);
    expect(emaPoints([[1, 4], [2, 2]], 0.5).map((p) => p[0])).toEqual([1, 2]);
  });
});

describe('the log axis', () => {
  it('spans the positive values with ticks evenly spaced in log', async () => {
    const { logAxis } = await import('./smoothing');
    const axis = logAxis([1, 100, 10, -3], 3)!;
    expect(axis.domain).toEqual([1, 100]);
    axis.ticks.forEach((t, i) => expect(t).toBeCloseTo([1, 10, 100][i]));
    expect(logAxis([0, -1])).toBeNull();
    expect(logAxis([5, 5])!.domain[0]).toBeLessThan(5);
  });
});

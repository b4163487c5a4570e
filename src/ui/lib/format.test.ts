import { describe, expect, it } from 'vitest';
import { axisWidth, fmtAxis, fmtBytes, fmtChange, fmtDuration, fmtMB } from './format';
import { toCsv } from './csv';

describe('formatting', () => {
  it('writes axis ticks in at most four digits, which fit the axis width', () => {
    expect([0, 0.5, 3.14159, 10.25, 123.4].map(fmtAxis)).toEqual(['0.00', '0.50', '3.14', '10.3', '123']);
    for (const v of [0.5, 9.99, 10.25, 99.5, 999]) expect(axisWidth(5)).toBeGreaterThanOrEqual(14 + 8 * fmtAxis(v).length);
  });

  it('writes bytes in decimal units', () => {
    expect(fmtBytes(25_015_296)).toBe('25.0 MB');
    expect(fmtBytes(319_488)).toBe('319.5 kB');
    expect(fmtBytes(12)).toBe('12 B');
    expect(fmtBytes(2.5e9)).toBe('2.50 GB');
    expect(fmtMB(33_403_904)).toBe('33');
    expect(fmtMB(4_200_000)).toBe('4.2');
  });

  it('writes durations and changes', () => {
    expect(fmtDuration(42_400)).toBe('42 s');
    expect(fmtDuration(125_000)).toBe('2 min 05 s');
    expect(fmtDuration(NaN)).toBe('–');
    expect(fmtChange(73, 100)).toBe('−27%');
    expect(fmtChange(100.2, 100)).toBe('same');
    expect(fmtChange(103, 100)).toBe('+3%');
  });

  it('quotes CSV cells that need it and leaves missing values empty', () => {
    expect(toCsv(['a', 'b'], [[1, 'x,y'], [null, NaN], [true, 'say "hi"']])).toBe('a,b\n1,"x,y"\n,\ntrue,"say ""hi"""\n');
  });
});

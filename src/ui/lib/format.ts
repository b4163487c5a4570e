// Human units for the page: bytes in decimal units (MB = 10⁶ bytes, as the model card counts),
// counts with k/M, durations in minutes and seconds.

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${Math.round(n)} B`;
}

/** Megabytes as a bare number for axis ticks. */
export function fmtMB(n: number): string {
  const mb = n / 1e6;
  return mb >= 10 ? mb.toFixed(0) : mb.toFixed(1);
}

/** An axis tick with at most four characters before any sign: 0.52, 3.14, 10.3, 215. */
export function fmtAxis(v: number): string {
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 0.01 || a === 0 ? v.toFixed(2) : v.toPrecision(2);
}

/** Width of a y axis whose ticks are at most this many characters (12 px digits, the tick line, a gap). */
export function axisWidth(chars: number): number {
  return 14 + 8 * chars;
}

export function fmtCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function fmtPercent(share: number, digits = 0): string {
  return Number.isFinite(share) ? `${(share * 100).toFixed(digits)}%` : '–';
}

/** A change relative to a reference, signed ("−27%", "+3%"), or "same" within half a percent. */
export function fmtChange(value: number, reference: number): string {
  const r = value / reference - 1;
  if (!Number.isFinite(r)) return '–';
  if (Math.abs(r) < 0.005) return 'same';
  return `${r > 0 ? '+' : '−'}${Math.abs(r * 100).toFixed(0)}%`;
}

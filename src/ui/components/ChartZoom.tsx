// Zoom on a chart's x axis by dragging across it: the dragged span is shaded (a ReferenceArea)
// and, on release, becomes the axis' domain; "reset zoom" or a double-click shows everything.
// ZoomProbe sits inside the chart and hands its x scale and plot area to the wrapper's handlers.
import { useCallback, useMemo, useRef, useState, type MouseEvent, type MutableRefObject } from 'react';
import { ReferenceArea, usePlotArea, useXAxisInverseScale } from 'recharts';

export type XRange = [number, number];

interface Probe {
  invert: (px: number) => unknown;
  area: { x: number; width: number };
}

/** Drags narrower than this (pixels) are clicks, not zooms. */
const MIN_DRAG_PX = 4;

/** Inside a chart: keeps the ref pointed at the chart's x scale and plot area. */
export function ZoomProbe({ probe }: { probe: MutableRefObject<Probe | null> }) {
  const area = usePlotArea();
  const invert = useXAxisInverseScale();
  probe.current = area && invert ? { invert, area } : null;
  return null;
}

/** The shaded span while dragging; render inside the chart. */
export function ZoomShade({ drag }: { drag: XRange | null }) {
  if (!drag) return null;
  return <ReferenceArea x1={Math.min(...drag)} x2={Math.max(...drag)} fill="#2563eb" fillOpacity={0.12} stroke="#2563eb" strokeOpacity={0.4} ifOverflow="hidden" />;
}

/** The chart's x value under the pointer, or null outside its plot area. */
function xAt(probe: Probe | null, e: MouseEvent<HTMLElement>): number | null {
  const chart = e.currentTarget.querySelector('.recharts-wrapper');
  if (!probe || !chart) return null;
  const px = e.clientX - chart.getBoundingClientRect().left;
  const { x, width } = probe.area;
  if (px < x || px > x + width) return null;
  const v = Number(probe.invert(px));
  return Number.isFinite(v) ? v : null;
}

/** The dragged span as a range; on a step axis, widened to whole steps. */
function rangeOf(a: number, b: number, steps: boolean): XRange {
  const [lo, hi] = [Math.min(a, b), Math.max(a, b)];
  if (!steps) return [lo, hi];
  const [l, h] = [Math.floor(lo), Math.ceil(hi)];
  return [l, h > l ? h : l + 1];
}

/**
 * A chart's zoom: the range shown (null: everything), the drag in progress, and the handlers of
 * the element around the chart. `steps`: the x axis counts whole steps.
 */
export function useXZoom(steps = false) {
  const probe = useRef<Probe | null>(null);
  const [zoom, setZoom] = useState<XRange | null>(null);
  const [drag, setDrag] = useState<XRange | null>(null);
  const startPx = useRef(0);
  const reset = useCallback(() => setZoom(null), []);
  const handlers = useMemo(() => ({
    onMouseDown: (e: MouseEvent<HTMLElement>) => {
      const v = xAt(probe.current, e);
      if (v === null || e.button !== 0) return;
      e.preventDefault();
      startPx.current = e.clientX;
      setDrag([v, v]);
    },
    onMouseMove: (e: MouseEvent<HTMLElement>) => {
      if (!drag) return;
      const v = xAt(probe.current, e);
      if (v !== null) setDrag([drag[0], v]);
    },
    onMouseUp: (e: MouseEvent<HTMLElement>) => {
      if (!drag) return;
      const v = xAt(probe.current, e) ?? drag[1];
      setDrag(null);
      if (Math.abs(e.clientX - startPx.current) < MIN_DRAG_PX || v === drag[0]) return;
      setZoom(rangeOf(drag[0], v, steps));
    },
    onMouseLeave: () => setDrag(null),
    onDoubleClick: () => setZoom(null),
  }), [drag, steps]);
  return { probe, zoom, drag, handlers, reset };
}

/** Rows whose x lies in the range, with the neighbour on each side so lines reach the edges. */
export function inRange<T>(rows: readonly T[], x: (r: T) => number, range: XRange | null): T[] {
  if (!range) return rows as T[];
  const first = rows.findIndex((r) => x(r) >= range[0]);
  if (first < 0) return [];
  let last = first;
  while (last + 1 < rows.length && x(rows[last + 1]) <= range[1]) last++;
  return rows.slice(Math.max(0, first - 1), Math.min(rows.length, last + 2));
}

const fmtEdge = (v: number) => (Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1));

/** "reset zoom", shown while a chart is zoomed, with the range it shows. */
export function ZoomReset({ zoom, reset, unit, testId }: { zoom: XRange | null; reset: () => void; unit: string; testId: string }) {
  if (!zoom) return null;
  return (
    <button type="button" className="mini" data-export="skip" data-testid={testId} data-from={zoom[0]} data-to={zoom[1]} onClick={reset}
      title="show the whole run (or double-click the chart)">
      reset zoom ({unit} {fmtEdge(zoom[0])}–{fmtEdge(zoom[1])})
    </button>
  );
}

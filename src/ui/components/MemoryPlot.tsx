// The memory chart's plot: stacked areas by kind (drawn step-before: a sample closes the run
// that produced it), the device's figure as a line, the dense baseline's peak as a dashed
// line, and step boundaries as grid lines labelled on a top axis. Props that recharts diffs
// are module constants or memoized, so an update re-renders only what changed.
import { memo, useCallback, useMemo } from 'react';
import { Area, CartesianGrid, ComposedChart, Line, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis, type TooltipContentProps } from 'recharts';
import type { MemoryPoint } from '../lib/memory-series';
import { BASELINE_COLOR, DEVICE_COLOR, KIND_COLOR, KIND_LABEL, MEMORY_KINDS } from '../lib/kinds';
import { axisWidth, fmtBytes, fmtMB } from '../lib/format';
import { MemoryTooltip } from './MemoryTooltip';
import { ZoomProbe, ZoomShade, type useXZoom } from './ChartZoom';

export type MemoryAxis = 'time' | 'sample';

interface Props {
  points: MemoryPoint[];
  axis: MemoryAxis;
  /** Step number by the x value where that step begins. */
  boundaries: Map<number, number>;
  baseline: number | null;
  hasDevice: boolean;
  deviceLabel: string;
  zoom: ReturnType<typeof useXZoom>;
}

const MARGIN = { top: 4, right: 16, bottom: 16, left: 0 };
const STEP_TICK = { fontSize: 10, fill: '#94a3b8' };
const Y_LABEL = { value: 'MB', angle: -90, position: 'insideLeft', offset: 0, fontSize: 12 } as const;
const X_LABEL: Record<MemoryAxis, { value: string; position: 'insideBottom'; offset: number; fontSize: number }> = {
  time: { value: 'seconds since the first step began', position: 'insideBottom', offset: -8, fontSize: 12 },
  sample: { value: 'session runs', position: 'insideBottom', offset: -8, fontSize: 12 },
};
const X_TICK: Record<MemoryAxis, (v: number) => string> = {
  time: (v) => v.toFixed(v < 10 ? 1 : 0),
  sample: (v) => String(v),
};
const tooltip = (p: TooltipContentProps) => <MemoryTooltip active={p.active} point={p.payload[0]?.payload as MemoryPoint | undefined} />;

export const MemoryPlot = memo(function MemoryPlot({ points, axis, boundaries, baseline, hasDevice, deviceLabel, zoom }: Props) {
  const xKey = axis === 'time' ? 'x' : 'i';
  const domain = useMemo<[number, number]>(() => zoom.zoom ?? [points[0]?.[xKey] ?? 0, points[points.length - 1]?.[xKey] ?? 1], [points, xKey, zoom.zoom]);
  const marks = useMemo(() => [...boundaries.keys()].filter((x) => x >= domain[0] && x <= domain[1]), [boundaries, domain]);
  const stepOf = useCallback((v: number) => `${boundaries.get(v) ?? ''}`, [boundaries]);
  const baselineLabel = useMemo(
    () => (baseline === null ? undefined : { value: `dense baseline peak ${fmtBytes(baseline)}`, position: 'insideTopRight' as const, fontSize: 11, fill: BASELINE_COLOR }),
    [baseline],
  );
  return (
    <div className="zoomable" data-testid="memory-zoom-area" title="drag across the chart to zoom; double-click to show everything" {...zoom.handlers}>
    <ResponsiveContainer width="100%" height={280}>
      <ComposedChart data={points} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" vertical={false} />
        <CartesianGrid xAxisId="steps" horizontal={false} verticalValues={marks} stroke="#cbd5e1" />
        <XAxis xAxisId="steps" orientation="top" dataKey={xKey} type="number" domain={domain} allowDataOverflow ticks={marks}
          interval="preserveStartEnd" tickFormatter={stepOf} tick={STEP_TICK} tickLine={false} axisLine={false} height={16} />
        <XAxis dataKey={xKey} type="number" domain={domain} allowDataOverflow tickFormatter={X_TICK[axis]} label={X_LABEL[axis]} />
        <YAxis width={axisWidth(5) + 14} tickFormatter={fmtMB} label={Y_LABEL} />
        <Tooltip content={tooltip} isAnimationActive={false} />
        {MEMORY_KINDS.map((k) => (
          <Area key={k} type="stepBefore" dataKey={k} name={KIND_LABEL[k]} stackId="bytes" stroke={KIND_COLOR[k]} fill={KIND_COLOR[k]}
            fillOpacity={0.75} strokeWidth={0} isAnimationActive={false} activeDot={false} />
        ))}
        {hasDevice && <Line type="stepBefore" dataKey="device" name={deviceLabel} stroke={DEVICE_COLOR} strokeWidth={1.5} dot={false} activeDot={false} isAnimationActive={false} />}
        {baseline !== null && (
          <ReferenceLine y={baseline} stroke={BASELINE_COLOR} strokeDasharray="6 4" strokeWidth={1.5} ifOverflow="extendDomain" label={baselineLabel} />
        )}
        <ZoomShade drag={zoom.drag} />
        <ZoomProbe probe={zoom.probe} />
      </ComposedChart>
    </ResponsiveContainer>
    </div>
  );
});

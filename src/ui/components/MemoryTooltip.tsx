// The hovered sample: its step, the graph that ran, and bytes by kind.
import type { MemoryPoint } from '../lib/memory-series';
import { DEVICE_COLOR, KIND_COLOR, KIND_LABEL, MEMORY_KINDS } from '../lib/kinds';
import { fmtBytes } from '../lib/format';

export function MemoryTooltip({ active, point }: { active: boolean; point: MemoryPoint | undefined }) {
  if (!active || !point) return null;
  return (
    <div className="tip">
      <div className="tip-head">step {point.step} · {point.phase} · {point.x.toFixed(2)} s</div>
      <table>
        <tbody>
          {[...MEMORY_KINDS].reverse().map((k) => (
            <tr key={k}><td><i className="swatch" style={{ background: KIND_COLOR[k] }} />{KIND_LABEL[k]}</td><td className="num">{fmtBytes(point[k])}</td></tr>
          ))}
          <tr className="total"><td>total</td><td className="num">{fmtBytes(point.total)}</td></tr>
          {point.device !== undefined && <tr><td><i className="swatch" style={{ background: DEVICE_COLOR }} />device</td><td className="num">{fmtBytes(point.device)}</td></tr>}
        </tbody>
      </table>
    </div>
  );
}

// Model files in 2-byte formats, made from float32 ones for tests: bfloat16 and IEEE half bits.
import { readSafetensors, writeSafetensors, type StWrite } from '../../src/engine/model/safetensors';

/** float32 → bfloat16 bits, rounded to nearest even (NaN stays NaN). */
export function toBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  return Uint16Array.from(u, (b) => ((b & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : (b + 0x7fff + ((b >> 16) & 1)) >>> 16));
}

/** float32 → IEEE half bits (nearest; small values may become subnormal, as a real f16 file has). */
export function toF16(x: Float32Array): Uint16Array {
  return Uint16Array.from(x, (v) => {
    const s = v < 0 ? 0x8000 : 0;
    const a = Math.abs(v);
    if (a >= 65520) return s | 0x7c00;
    if (a < 2 ** -14) return s | Math.round(a / 2 ** -24);
    let e = Math.floor(Math.log2(a));
    if (a / 2 ** e < 1) e--;
    if (a / 2 ** e >= 2) e++;
    const m = Math.round((a / 2 ** e - 1) * 1024);
    return m === 1024 ? s | ((e + 16) << 10) : s | ((e + 15) << 10) | m;
  });
}

/** A safetensors file's matrices in a 2-byte format, and the same values widened to float32 (every other tensor as it is). */
export function halfAndWidened(bytes: Uint8Array, kind: 'BF16' | 'F16'): { half: Uint8Array; widened: Uint8Array } {
  const half = new Map<string, StWrite>();
  for (const [name, t] of readSafetensors(bytes)) {
    const bits = t.shape.length === 2 ? (kind === 'BF16' ? toBf16(t.data) : toF16(t.data)) : null;
    half.set(name, bits ? { shape: t.shape, dtype: kind, raw: new Uint8Array(bits.buffer) } : { shape: t.shape, data: t.data });
  }
  const halfBytes = writeSafetensors(half);
  const widened = new Map<string, StWrite>([...readSafetensors(halfBytes)].map(([n, t]) => [n, { shape: t.shape, data: t.data }]));
  return { half: halfBytes, widened: writeSafetensors(widened) };
}

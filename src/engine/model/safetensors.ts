// safetensors: an 8-byte little-endian header length, a JSON header, then raw little-endian
// data. Written here (≈80 lines) rather than taken from a package: the npm packages for it
// either pull a Python-style runtime or only read. f16 and bf16 are widened to f32 on read.
import { UserError } from '../errors';

export type StDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32';

export interface StTensor {
  dtype: StDType;
  shape: number[];
  /** Widened to float32 for float types. */
  data: Float32Array;
}

const SIZES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4 };

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function readSafetensors(bytes: Uint8Array, fileName = 'model.safetensors'): Map<string, StTensor> {
  const bad = (why: string) => new UserError(`${fileName} is not a valid safetensors file: ${why}.`);
  if (bytes.byteLength < 8) throw bad('it is shorter than its 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.byteLength - 8) throw bad(`its header claims ${headerLen} bytes but the file has ${bytes.byteLength - 8} after the length`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch {
    throw bad('its header is not JSON');
  }
  const base = 8 + headerLen;
  const dataLen = bytes.byteLength - base;
  const out = new Map<string, StTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const size = SIZES[info.dtype];
    if (!size) throw new UserError(`${fileName}: tensor ${name} has dtype ${info.dtype}; only F32, F16, BF16, F64, I64 and I32 are supported.`);
    const [start, end] = info.data_offsets ?? [];
    const count = info.shape.reduce((a, b) => a * b, 1);
    if (!(start >= 0 && end <= dataLen && end - start === count * size)) {
      throw bad(`tensor ${name} (${info.dtype}${JSON.stringify(info.shape)}) claims bytes ${start}..${end} of ${dataLen}`);
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset + base + start, end - start);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      switch (info.dtype) {
        case 'F32': data[i] = dv.getFloat32(4 * i, true); break;
        case 'F64': data[i] = dv.getFloat64(8 * i, true); break;
        case 'F16': data[i] = f16ToF32(dv.getUint16(2 * i, true)); break;
        case 'BF16': data[i] = new Float32Array(new Uint32Array([dv.getUint16(2 * i, true) << 16]).buffer)[0]; break;
        case 'I64': data[i] = Number(dv.getBigInt64(8 * i, true)); break;
        case 'I32': data[i] = dv.getInt32(4 * i, true); break;
      }
    }
    out.set(name, { dtype: info.dtype as StDType, shape: info.shape, data });
  }
  return out;
}

/** Writes float32 tensors, names sorted as safetensors' Python writer does. */
export function writeSafetensors(tensors: Map<string, { shape: number[]; data: Float32Array }>, metadata?: Record<string, string>): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const n of names) {
    const t = tensors.get(n)!;
    header[n] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const n of names) {
    const d = tensors.get(n)!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

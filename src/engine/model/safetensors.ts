// safetensors: an 8-byte little-endian header length, a JSON header, then raw little-endian
// data. Written here rather than taken from a package: the npm packages for it either pull a
// Python-style runtime or only read. decodeTensor widens f16 and bf16 to f32; halfBits keeps
// their 2-byte bits (frozen matrices stay so, widenHalf makes their float32 values when needed). The header is
// checked whole before any tensor is read: a file cut short, a header that is not JSON, a
// tensor named twice, or entries whose offsets overlap, run past the end or disagree with
// dtype × shape each get a sentence naming the file and the tensor.
import { UserError } from '../errors';

export type StDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32';

export interface StTensor {
  dtype: StDType;
  shape: number[];
  /** Widened to float32 for float types. */
  data: Float32Array;
}

/** One tensor as the header describes it; start and end are offsets into the data section. */
export interface StEntry {
  name: string;
  dtype: StDType;
  shape: number[];
  start: number;
  end: number;
}

export interface StHeader {
  entries: StEntry[];
  /** Where the data section starts in the file. */
  dataStart: number;
  metadata: Record<string, string> | undefined;
}

const SIZES: Record<StDType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4 };
/** A header this long is a corrupt length field, not a header (the Python reader caps it at 100 MB). */
const MAX_HEADER = 100_000_000;

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** Two entries whose non-empty byte ranges overlap, or null: each range, by start, against the furthest end before it. */
function overlapping(entries: StEntry[]): [StEntry, StEntry] | null {
  const sorted = entries.filter((e) => e.end > e.start).sort((a, b) => a.start - b.start || a.end - b.end);
  let furthest: StEntry | null = null;
  for (const e of sorted) {
    if (furthest && e.start < furthest.end) return [furthest, e];
    if (!furthest || e.end > furthest.end) furthest = e;
  }
  return null;
}

const isJsonSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/**
 * The first key the top-level object of valid JSON text holds twice, or null. JSON.parse keeps
 * the last of equal keys silently, so the text itself is scanned.
 */
function duplicateKey(text: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      let k = j + 1;
      while (isJsonSpace(text[k])) k++;
      if (depth === 1 && text[k] === ':') {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
      }
      i = j;
    }
  }
  return null;
}

/** One tensor's header entry, checked: dtype, shape, and offsets that span dtype × shape inside the data. */
function headerEntry(name: string, raw: unknown, dataLen: number, fileName: string, bad: (why: string) => UserError): StEntry {
  const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof info !== 'object' || info === null) throw bad(`the header entry of ${name} is not an object`);
  const dtype = String(info.dtype);
  if (!(dtype in SIZES)) throw new UserError(`${fileName}: tensor ${name} has dtype ${dtype}; only F32, F16, BF16, F64, I64 and I32 are supported.`);
  if (!Array.isArray(info.shape) || !info.shape.every(isCount)) throw bad(`tensor ${name} has shape ${JSON.stringify(info.shape)}, not a list of sizes`);
  const offsets = info.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[1] < offsets[0]) {
    throw bad(`tensor ${name} has data_offsets ${JSON.stringify(offsets)}, not a start and an end`);
  }
  const shape = info.shape as number[];
  const [start, end] = offsets as [number, number];
  const need = shape.reduce((a, b) => a * b, 1) * SIZES[dtype as StDType];
  if (end - start !== need) {
    throw bad(`tensor ${name} is ${dtype} of shape [${shape.join(', ')}], which takes ${need} bytes, but its offsets ${start}..${end} span ${end - start}`);
  }
  if (end > dataLen) {
    throw bad(`tensor ${name} ends at byte ${end} of the data but the file holds only ${dataLen} bytes of data: the file is cut short or its header is wrong`);
  }
  return { name, dtype: dtype as StDType, shape, start, end };
}

/**
 * The header's length from a file's first 8 bytes, checked against the file's size: what to read
 * next, before anything else of the file.
 */
export function safetensorsHeaderLength(first: Uint8Array, fileSize: number, fileName = 'model.safetensors'): number {
  const bad = (why: string) => new UserError(`${fileName} is not a valid safetensors file: ${why}.`);
  if (fileSize < 8 || first.byteLength < 8) throw bad(`it has ${fileSize} bytes, fewer than the 8 of its header length, so it is empty or cut short`);
  const headerLen = Number(new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true));
  if (headerLen > MAX_HEADER) throw bad(`its first 8 bytes give a header of ${headerLen} bytes, which no safetensors file has (is it a safetensors file at all?)`);
  if (headerLen > fileSize - 8) throw bad(`its header should be ${headerLen} bytes but the file has only ${fileSize - 8} after the length: the file is cut short`);
  return headerLen;
}

/**
 * Reads and checks the header only: nothing of the data is touched. `bytes` holds the file, or
 * only its first 8 + header-length bytes when `fileSize` gives the whole file's size.
 */
export function readSafetensorsHeader(bytes: Uint8Array, fileName = 'model.safetensors', fileSize = bytes.byteLength): StHeader {
  const bad = (why: string) => new UserError(`${fileName} is not a valid safetensors file: ${why}.`);
  const headerLen = safetensorsHeaderLength(bytes, fileSize, fileName);
  let header: unknown;
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
    header = JSON.parse(text);
  } catch {
    throw bad('its header is not JSON, so the file is corrupt');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('its header is not a JSON object');
  const twice = duplicateKey(text);
  if (twice !== null) throw bad(`its header lists "${twice}" more than once`);
  const dataStart = 8 + headerLen;
  const dataLen = fileSize - dataStart;
  const entries: StEntry[] = [];
  let metadata: Record<string, string> | undefined;
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = raw as Record<string, string>;
      continue;
    }
    entries.push(headerEntry(name, raw, dataLen, fileName, bad));
  }
  const overlap = overlapping(entries);
  if (overlap) {
    const [p, q] = overlap;
    throw bad(`tensors ${p.name} (bytes ${p.start}..${p.end}) and ${q.name} (bytes ${q.start}..${q.end}) overlap`);
  }
  return { entries, dataStart, metadata };
}

/** The values of one tensor from its raw bytes, widened to float32 (always a copy). */
export function decodeTensor(raw: Uint8Array, dtype: StDType): Float32Array {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const count = raw.byteLength / SIZES[dtype];
  if (dtype === 'F32' && raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer);
  if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32: the bits shifted up, read as float32.
    const bits = new Uint32Array(count);
    for (let i = 0; i < count; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
    return new Float32Array(bits.buffer);
  }
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case 'F32': data[i] = dv.getFloat32(4 * i, true); break;
      case 'F64': data[i] = dv.getFloat64(8 * i, true); break;
      case 'F16': data[i] = f16ToF32(dv.getUint16(2 * i, true)); break;
      case 'I64': data[i] = Number(dv.getBigInt64(8 * i, true)); break;
      case 'I32': data[i] = dv.getInt32(4 * i, true); break;
    }
  }
  return data;
}

/** A 2-byte float format a frozen weight may stay in: bfloat16 or IEEE half. */
export type HalfKind = 'bf16' | 'f16';

/** The 2-byte kind of a header dtype, or null for every other dtype. */
export const halfKindOf = (dtype: StDType): HalfKind | null => (dtype === 'BF16' ? 'bf16' : dtype === 'F16' ? 'f16' : null);

let f16Table: Float32Array | null = null;

/** Every IEEE half's float32 value, by its bits (built once, on first use). */
function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
  }
  return f16Table;
}

/** float32 values of 2-byte bits (exact: every bf16 and f16 value is a float32); `out` is filled from `at` when given. */
export function widenHalf(bits: Uint16Array, kind: HalfKind, out = new Float32Array(bits.length), at = 0): Float32Array {
  if (kind === 'bf16') {
    const words = new Uint32Array(out.buffer, out.byteOffset + 4 * at, bits.length);
    for (let i = 0; i < bits.length; i++) words[i] = bits[i] << 16;
    return out;
  }
  const table = halfTable();
  for (let i = 0; i < bits.length; i++) out[at + i] = table[bits[i]];
  return out;
}

/** The 2-byte values of a BF16 or F16 tensor's raw little-endian bytes, as their bits (a copy). */
export function halfBits(raw: Uint8Array): Uint16Array {
  return new Uint16Array(raw.slice().buffer);
}

/** Elements of one header entry. */
export const elementsOf = (e: StEntry): number => (e.end - e.start) / SIZES[e.dtype];

/** The values of one header entry, widened to float32. */
export function readEntry(bytes: Uint8Array, h: StHeader, e: StEntry): Float32Array {
  return decodeTensor(bytes.subarray(h.dataStart + e.start, h.dataStart + e.end), e.dtype);
}

export function readSafetensors(bytes: Uint8Array, fileName = 'model.safetensors'): Map<string, StTensor> {
  const h = readSafetensorsHeader(bytes, fileName);
  const out = new Map<string, StTensor>();
  for (const e of h.entries) out.set(e.name, { dtype: e.dtype, shape: e.shape, data: readEntry(bytes, h, e) });
  return out;
}

/** Tensors to write: float32 values, or raw little-endian bytes kept in their own dtype. */
export type StWrite = { shape: number[]; data: Float32Array } | { shape: number[]; dtype: StDType; raw: Uint8Array };

/** Writes tensors (float32 unless given raw), names sorted as safetensors' Python writer does. */
export function writeSafetensors(tensors: Map<string, StWrite>, metadata?: Record<string, string>): Uint8Array {
  const names = [...tensors.keys()].sort();
  const bytesOf = (t: StWrite): Uint8Array => ('raw' in t ? t.raw : new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const n of names) {
    const t = tensors.get(n)!;
    const len = bytesOf(t).byteLength;
    header[n] = { dtype: 'raw' in t ? t.dtype : 'F32', shape: t.shape, data_offsets: [offset, offset + len] };
    offset += len;
  }
  let json = JSON.stringify(header);
  while ((8 + new TextEncoder().encode(json).length) % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const n of names) {
    const b = bytesOf(tensors.get(n)!);
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}

/** One safetensors file as far as the forecast needs it: its size and its checked header. */
export interface StFileHeader {
  size: number;
  header: StHeader;
  /** The whole file is in memory; otherwise it is read a tensor at a time. */
  resident?: boolean;
}

const headersOf = (w: Uint8Array | StFileHeader[], fileName: string): StFileHeader[] =>
  w instanceof Uint8Array ? [{ size: w.byteLength, header: readSafetensorsHeader(w, fileName), resident: true }] : w;

/** Bytes the engine holds of one tensor: matrices stored in 2 bytes stay so, the rest is widened to float32. */
const heldBytes = (e: StEntry): number => elementsOf(e) * (e.shape.length === 2 && halfKindOf(e.dtype) ? 2 : 4);

/**
 * Bytes loading a checkpoint takes, predicted from its headers alone: the weights as the engine
 * holds them (`held`; on the CPU the engine's tensors are those same arrays), and the files
 * while they are read: a file in memory whole, or one tensor's raw bytes at a time.
 */
export function predictLoadBytes(weights: Uint8Array | StFileHeader[], fileName = 'model.safetensors'): { needed: number; parameters: number; held: number } {
  const files = headersOf(weights, fileName);
  const parameters = files.reduce((n, f) => n + f.header.entries.reduce((m, e) => m + elementsOf(e), 0), 0);
  const held = files.reduce((n, f) => n + f.header.entries.reduce((m, e) => m + heldBytes(e), 0), 0);
  const resident = files.reduce((n, f) => n + (f.resident ? f.size : 0), 0);
  const reading = Math.max(0, ...files.filter((f) => !f.resident).flatMap((f) => f.header.entries.map((e) => e.end - e.start)));
  return { needed: held + resident + reading, parameters, held };
}

/** A memory budget and where it came from (device memory, an adapter limit, a setting). */
export interface MemoryBudget {
  bytes: number;
  source: string;
  /** The budget is the host's, while the steps run on a GPU of their own (WebGPU): only loading counts against it. */
  deviceSeparate?: boolean;
  /** The most one float32 tensor may take on the device (WebGPU's maxStorageBufferBindingSize). */
  maxTensor?: { bytes: number; source: string };
  /** The most one session run may hold at once (WASM: its 32-bit heap; weights and saved tensors wait outside it). */
  heap?: { bytes: number; source: string };
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 2 ** 30 ? 2 : 1)} GiB`;

/**
 * Refuses a checkpoint whose largest tensor would not fit one device buffer. The lookup tables
 * named in `rowSplit` (embedding, LM head, positions) are left out: the engine stores one over
 * the limit in chunks of rows.
 */
function checkLargest(files: StFileHeader[], maxTensor: { bytes: number; source: string }, rowSplit: readonly string[]): void {
  const whole = files.flatMap((f) => f.header.entries).filter((e) => !rowSplit.includes(e.name));
  const largest = whole.reduce<StEntry | null>((a, e) => (!a || elementsOf(e) > elementsOf(a) ? e : a), null);
  const f32 = largest ? elementsOf(largest) * 4 : 0;
  if (largest && f32 > maxTensor.bytes) {
    const mib = (b: number) => `${Number((b / 2 ** 20).toPrecision(3))} MiB`;
    throw new UserError(
      `This model is too large for this GPU: its largest tensor, ${largest.name} [${largest.shape.join(', ')}], takes ${mib(f32)} in float32 ` +
        `but one buffer may hold ${mib(maxTensor.bytes)} (${maxTensor.source}). Nothing was loaded.`,
    );
  }
}

/**
 * Refuses, from the headers alone and before any tensor is read, a checkpoint whose load would not
 * fit the budget; `rowSplit` names the tables stored in chunks of rows (see checkLargest).
 */
export function checkFits(weights: Uint8Array | StFileHeader[], budget: MemoryBudget | undefined, fileName = 'model.safetensors', rowSplit: readonly string[] = []): void {
  if (!budget) return;
  const files = headersOf(weights, fileName);
  if (budget.maxTensor) checkLargest(files, budget.maxTensor, rowSplit);
  const predicted = predictLoadBytes(files);
  if (predicted.needed <= budget.bytes) return;
  const what = files.some((f) => f.resident) ? 'its weights, and the file while it is read' : 'its weights, the files read a tensor at a time';
  throw new UserError(
    `This model is too large for the memory here: loading its ${(predicted.parameters / 1e6).toFixed(1)} M parameters needs about ${gib(predicted.needed)} ` +
      `(${what}) but ${gib(budget.bytes)} is available (${budget.source}). Nothing was loaded.`,
  );
}

// A small typed graph IR. Graphs are built in memory, differentiated by autodiff.ts and
// serialised to ONNX by onnx.ts; onnxruntime only ever sees the serialised form.

export type DType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'bool';

/** A dimension: a number when known when the graph is built, a name when it is symbolic. */
export type Dim = number | string;
export type Shape = Dim[];

export interface ValueInfo {
  name: string;
  dtype: DType;
  shape: Shape;
}

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

export interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

export type ConstData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export interface Constant {
  info: ValueInfo;
  data: ConstData;
}

export interface Graph {
  name: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodes: Node[];
  constants: Constant[];
  /** Shape and type of every value (inputs, constants, node outputs), by name. */
  values: Map<string, ValueInfo>;
}

/** ONNX TensorProto.DataType codes. */
export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11,
};

export function dtypeFromOnnx(code: number): DType {
  const found = (Object.keys(ONNX_DTYPE) as DType[]).find((k) => ONNX_DTYPE[k] === code);
  if (!found) throw new Error(`ONNX data type ${code} is not supported`);
  return found;
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16';
}

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Record<DType, number> = { float32: 4, float64: 8, float16: 2, int64: 8, int32: 4, bool: 1 };

/** A dimension as its numeric factor and its symbols: 8 → 8, []; "2*B*T" → 2, [B, T]. */
export function dimFactors(d: Dim): { n: number; syms: string[] } {
  if (typeof d === 'number') return { n: d, syms: [] };
  let n = 1;
  const syms: string[] = [];
  for (const part of d.split('*')) if (/^\d+$/.test(part)) n *= Number(part); else syms.push(part);
  return { n, syms };
}

export function shapeToString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}
/** Numpy-style broadcast of two shapes; symbolic dims broadcast only against 1 or themselves. */
export function broadcastShapes(a: Shape, b: Shape, op: string): Shape {
  const rank = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (da === db) out.push(da);
    else if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else throw new Error(`${op}: shapes ${shapeToString(a)} and ${shapeToString(b)} do not broadcast`);
  }
  return out;
}

const keys = new WeakMap<Graph, string>();

/** A graph after the fact: a structural key that identifies it for the session cache (made once per graph: graphs are not changed once built). */
export function graphKey(g: Graph): string {
  let key = keys.get(g);
  if (key === undefined) {
    key = structuralKey(g);
    keys.set(g, key);
  }
  return key;
}

function structuralKey(g: Graph): string {
  const parts: string[] = [g.name];
  for (const v of g.inputs) parts.push(`i:${v.name}:${v.dtype}:${v.shape.join('x')}`);
  for (const v of g.outputs) parts.push(`o:${v.name}`);
  for (const n of g.nodes) parts.push(`${n.op}(${n.inputs.join(',')})->${n.outputs.join(',')}${JSON.stringify(n.attrs)}`);
  for (const c of g.constants) parts.push(`c:${c.info.name}:${c.info.shape.join('x')}:${hashBytes(new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength))}`);
  return `${g.name}#${hashString(parts.join('\n'))}`;
}

function hashBytes(b: Uint8Array): string {
  let h1 = 0x811c9dc5 | 0;
  let h2 = 0x01000193 | 0;
  for (let i = 0; i < b.length; i++) {
    h1 = Math.imul(h1 ^ b[i], 16777619);
    h2 = Math.imul(h2 ^ b[i], 2246822519);
  }
  return (h1 >>> 0).toString(16) + (h2 >>> 0).toString(16);
}

export function hashString(s: string): string {
  return hashBytes(new TextEncoder().encode(s));
}

/**
 * Whole numbers (within ±2³¹) as int64 tensor data, written as two 32-bit words each rather than
 * a BigInt per value (converting tens of thousands of row indices a step one BigInt at a time
 * showed in the host's profile). `at(i)` gives value i; the platforms the engine runs on are little-endian.
 */
export function int64s(n: number, at: (i: number) => number): BigInt64Array {
  const out = new BigInt64Array(n);
  const words = new Int32Array(out.buffer);
  for (let i = 0; i < n; i++) {
    const v = at(i);
    words[2 * i] = v;
    words[2 * i + 1] = v < 0 ? -1 : 0;
  }
  return out;
}

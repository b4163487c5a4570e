// Models in the shapes of real ones (test/fixtures/golden-shapes/*.json) with generated weights:
// the generator of tools/golden/make_shape_golden.py, bit for bit (its docstring has the rules).
// It builds the model folder's files in memory (config.json, model.safetensors or shards with
// model.safetensors.index.json, the PEFT adapter), in Node and in the page alike, and summarises
// gradients the way the golden stores them (norms, projections, sampled entries).
import { relErr } from './compare';

export interface GenTensor { name: string; shape: number[]; dtype: 'BF16' | 'F32'; init: { kind: 'uniform' | 'gain'; exp?: number }; checksum: number }
export interface GradRef { norm: number; proj: number[]; idx: number[]; val: number[] }
export interface ShapeGolden {
  case: string;
  upstream: string;
  config: Record<string, unknown>;
  seed: number;
  /** [file name, name prefixes of its tensors], or null for one model.safetensors. */
  shards: [string, string[]][] | null;
  tensors: GenTensor[];
  adapter_config: Record<string, unknown>;
  adapter: GenTensor[];
  input_ids: number[][];
  keep?: { block: number; layers: (number[] | null)[] };
  loss: number;
  dense_loss: number;
  /** loss_without_rope_scaling: the float64 loss with the config's RoPE scaling left out. */
  checks: { loss_without_rope_scaling?: number };
  grads: Record<string, GradRef>;
  generator: { proj_seed: number; sample_seed: number; adapter_t0: number };
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const keyOf = (seed: number, t: number) => fmix32((Math.imul(seed, 0x9e3779b1) + Math.imul(t + 1, 0x85ebca77)) >>> 0);
const hashAt = (key: number, i: number) => fmix32((Math.imul(i, 0x9e3779b1) + key) >>> 0);

const CHUNK = 1 << 14;
const f32 = new Float32Array(CHUNK);
const u32 = new Uint32Array(f32.buffer);

/** Fills `out` with tensor t's stored bits (bfloat16 or float32) and returns their checksum. */
function generate(out: Uint16Array | Uint32Array, seed: number, t: number, init: GenTensor['init']): number {
  const key = keyOf(seed, t);
  let sum = 0;
  for (let s = 0; s < out.length; s += CHUNK) {
    const m = Math.min(CHUNK, out.length - s);
    if (init.kind === 'gain') fillGain(key, s, m);
    else fillUniform(key, s, m, 2 ** ((init.exp ?? 0) - 23));
    sum = (sum + (out instanceof Uint16Array ? storeBf16(out, s, m) : storeF32(out, s, m))) | 0;
  }
  return sum >>> 0;
}

function fillUniform(key: number, s: number, m: number, scale: number): void {
  for (let j = 0; j < m; j++) f32[j] = ((hashAt(key, s + j) >>> 8) - 8388608) * scale;
}

function fillGain(key: number, s: number, m: number): void {
  for (let j = 0; j < m; j++) f32[j] = ((hashAt(key, s + j) >>> 24) - 128) / 512 + 1;
}

/** Rounds the chunk to bfloat16 (to nearest even, on the float32 bits) into out[s..s+m); their share of the checksum. */
function storeBf16(out: Uint16Array, s: number, m: number): number {
  let sum = 0;
  for (let j = 0; j < m; j++) {
    const x = u32[j];
    const b = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    out[s + j] = b;
    sum = (sum + fmix32((b ^ Math.imul(2 * (s + j) + 1, 0x85ebca77)) >>> 0)) | 0;
  }
  return sum;
}

function storeF32(out: Uint32Array, s: number, m: number): number {
  let sum = 0;
  for (let j = 0; j < m; j++) {
    const x = u32[j];
    out[s + j] = x;
    sum = (sum + fmix32((x ^ Math.imul(2 * (s + j) + 1, 0x85ebca77)) >>> 0)) | 0;
  }
  return sum;
}

/** A safetensors file of generated tensors (tensor `entries[k]` is number `ts[k]`); names whose checksum differs from the golden's. */
function safetensorsOf(entries: GenTensor[], ts: number[], seed: number): { bytes: Uint8Array; differs: string[] } {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const e of entries) {
    const n = e.shape.reduce((a, b) => a * b, 1) * (e.dtype === 'BF16' ? 2 : 4);
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + n] };
    off += n;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += ' ';
  const bytes = new Uint8Array(8 + json.length + off);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(new TextEncoder().encode(json), 8);
  const differs: string[] = [];
  entries.forEach((e, k) => {
    const [start, end] = (header[e.name] as { data_offsets: number[] }).data_offsets.map((o) => o + 8 + json.length);
    const view = e.dtype === 'BF16' ? new Uint16Array(bytes.buffer, start, (end - start) / 2) : new Uint32Array(bytes.buffer, start, (end - start) / 4);
    if (generate(view, seed, ts[k], e.init) !== e.checksum) differs.push(e.name);
  });
  return { bytes, differs };
}

export interface ShapeFiles {
  config: Record<string, unknown>;
  /** model.safetensors, or the shards the index names. */
  weights: { name: string; bytes: Uint8Array }[];
  index?: { metadata: { total_size: number }; weight_map: Record<string, string> };
  adapter: { config: Record<string, unknown>; weights: Uint8Array };
  /** Tensors whose generated bytes are not the ones tools/golden/make_shape_golden.py made. */
  differs: string[];
}

/** The model folder and adapter of a golden case, generated. */
export function shapeFiles(g: ShapeGolden): ShapeFiles {
  const index = new Map(g.tensors.map((e, t) => [e.name, t]));
  const groups: [string, GenTensor[]][] = g.shards
    ? g.shards.map(([file, prefixes]) => [file, g.tensors.filter((e) => prefixes.some((p) => e.name.startsWith(p)))])
    : [['model.safetensors', g.tensors]];
  const differs: string[] = [];
  const weights = groups.map(([name, entries]) => {
    const r = safetensorsOf(entries, entries.map((e) => index.get(e.name)!), g.seed);
    differs.push(...r.differs);
    return { name, bytes: r.bytes };
  });
  const adapter = safetensorsOf(g.adapter, g.adapter.map((_, j) => g.generator.adapter_t0 + j), g.seed);
  differs.push(...adapter.differs);
  const weightMap = Object.fromEntries(groups.flatMap(([file, entries]) => entries.map((e) => [e.name, file])));
  const total = g.tensors.reduce((s, e) => s + 2 * e.shape.reduce((a, b) => a * b, 1), 0);
  return {
    config: g.config,
    weights,
    index: g.shards ? { metadata: { total_size: total }, weight_map: weightMap } : undefined,
    adapter: { config: g.adapter_config, weights: adapter.bytes },
    differs,
  };
}

/**
 * Relative errors against the golden: the loss, and per LoRA tensor the largest of its norm's,
 * its four projections' and its sampled entries' (each ‖ours − ref‖ / ‖ref‖); `missing`: tensors
 * the golden has and the gradients lack, or the other way round; `rope`: with a RoPE scaling, the
 * loss's error over the gap the scaling makes (small enough only when the scaling was applied).
 */
export function compareShapeGrads(g: ShapeGolden, loss: number, grads: Record<string, Float32Array>) {
  const names = Object.keys(g.grads).sort();
  const missing = [...names.filter((n) => !grads[n]), ...Object.keys(grads).filter((n) => !g.grads[n])];
  const tensors: Record<string, number> = {};
  names.forEach((name, j) => {
    const ours = grads[name];
    if (!ours) return;
    const ref = g.grads[name];
    let sq = 0;
    for (let i = 0; i < ours.length; i++) sq += ours[i] * ours[i];
    const proj = ref.proj.map((_, k) => {
      const key = keyOf(g.generator.proj_seed + k, j);
      let s = 0;
      for (let i = 0; i < ours.length; i++) s += ours[i] * (((hashAt(key, i) >>> 8) - 8388608) / 8388608);
      return s;
    });
    const val = ref.idx.map((i) => ours[i]);
    tensors[name] = Math.max(Math.abs(Math.sqrt(sq) - ref.norm) / ref.norm, relErr(proj, ref.proj), relErr(val, ref.val), ours.length === sizeOf(g, name) ? 0 : Infinity);
  });
  // The loss's error as a share of how far leaving the RoPE scaling out moves it (null: no scaling).
  const plain = g.checks.loss_without_rope_scaling;
  const rope = plain === undefined ? null : Math.abs(loss - g.loss) / Math.abs(plain - g.loss);
  return { loss: Math.abs(loss - g.loss) / Math.abs(g.loss), tensors, worst: Math.max(0, ...Object.values(tensors)), missing, rope };
}

const sizeOf = (g: ShapeGolden, name: string) => g.adapter.find((e) => e.name === name)!.shape.reduce((a, b) => a * b, 1);

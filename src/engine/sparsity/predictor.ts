// Pattern predictors (LEMO.md 3): per layer, a query-side and a key-side MLP over the layer's
// normalised hidden states, organised by block, whose embeddings multiply into a predicted
// tile map Î(B_mn) = e_q(m) · e_k(n). The tile map then goes through the oracle's
// symmetrise-and-sum, so predicted and oracle block scores rank the same way.
//
// Two shapes:
//   flat  the artifact's: per block and per channel slice (one slice per attention head, headDim
//         channels), the block's b tokens × slice channels are flattened (b·D) and passed through
//         Linear(b·D → r1), ReLU, Linear(r1 → r2), ReLU, Linear(r2 → E); the slices' outputs are
//         summed (weights shared across slices);
//   pool  per token, Linear(C → r1), ReLU, Linear(r1 → r2), ReLU; max over the block's tokens;
//         Linear(r2 → E). A block's oracle score comes from its strongest token pairs, which a
//         max over tokens represents directly.
// File: safetensors whose header metadata holds the JSON of shapes and block size.
import { z } from 'zod';
import { GraphBuilder, type Value } from '../graph/builder';
import type { Graph } from '../graph/ir';
import type { ModelConfig } from '../model/config';
import { applyNorm, familyOf, normParams } from '../model/families';
import { readSafetensors, writeSafetensors } from '../model/safetensors';
import type { Runtime, Tensor } from '../runtime/runtime';
import { UserError } from '../errors';
import { mulberry32 } from '../train/random';

export const SIDES = ['q', 'k'] as const;
export type Side = (typeof SIDES)[number];
export const PARTS = ['w1', 'b1', 'w2', 'b2', 'w3', 'b3'] as const;

/** Hidden widths of one side of one layer (they differ per layer after elastic pruning). */
export interface SideShape {
  r1: number;
  r2: number;
}

export interface PredictorConfig {
  format: 'lemo-predictors';
  version: 1;
  arch: PredictorArch;
  block: number;
  /** Channel slices per token (the model's heads) and channels per slice. */
  slices: number;
  sliceDim: number;
  embed: number;
  layers: { q: SideShape; k: SideShape }[];
  /** What the predictors were trained for; checked on load. */
  model: { architecture: string; hidden: number; layers: number; heads: number; vocabSize: number };
  /** How they were trained and what they reached (informational). */
  training?: Record<string, unknown>;
}

export type PredictorArch = 'flat' | 'pool';

/** Width of a predictor's first layer's input. */
export function inputWidth(pc: Pick<PredictorConfig, 'arch' | 'block' | 'slices' | 'sliceDim'>): number {
  return pc.arch === 'flat' ? pc.block * pc.sliceDim : pc.slices * pc.sliceDim;
}

export interface PredictorSizes {
  r1: number;
  r2: number;
  embed: number;
}

/** Defaults scaled to the model: the artifact's 8192 → 128 → 8192 → 128 for b·D = 8192. */
export function defaultSizes(cfg: ModelConfig, block: number, arch: PredictorArch = 'pool'): PredictorSizes {
  if (arch === 'pool') {
    const r = Math.max(16, Math.min(256, Math.round(cfg.hidden / 4)));
    return { r1: r, r2: r, embed: Math.max(16, Math.round(r / 2)) };
  }
  const flat = block * cfg.headDim;
  const r1 = Math.max(16, Math.min(128, Math.round(flat / 32)));
  return { r1, r2: Math.min(flat, 4 * r1), embed: r1 };
}

export type HostParam = { shape: number[]; data: Float32Array };

/** Tensor name of one part of one side of one layer. */
export const paramName = (layer: number, side: Side, part: (typeof PARTS)[number]) => `layers.${layer}.${side}.${part}`;

/** Predictors on the host: config and float32 tensors by name. */
export class PredictorSet {
  constructor(readonly config: PredictorConfig, readonly params: Map<string, HostParam>) {}

  /** Fresh predictors as torch.nn.Linear initialises them: weights and biases U(−1/√in, 1/√in). */
  static init(cfg: ModelConfig, block: number, sizes: PredictorSizes, seed: number, arch: PredictorArch = 'pool'): PredictorSet {
    const rand = mulberry32(seed);
    const flat = inputWidth({ arch, block, slices: cfg.heads, sliceDim: cfg.headDim });
    const params = new Map<string, HostParam>();
    const layers: PredictorConfig['layers'] = [];
    for (let l = 0; l < cfg.layers; l++) {
      for (const side of SIDES) {
        const dims: [number, number][] = [[flat, sizes.r1], [sizes.r1, sizes.r2], [sizes.r2, sizes.embed]];
        dims.forEach(([i, o], n) => {
          const bound = 1 / Math.sqrt(i);
          const u = (len: number) => Float32Array.from({ length: len }, () => (2 * rand() - 1) * bound);
          params.set(paramName(l, side, PARTS[2 * n]), { shape: [i, o], data: u(i * o) });
          params.set(paramName(l, side, PARTS[2 * n + 1]), { shape: [o], data: u(o) });
        });
      }
      layers.push({ q: { r1: sizes.r1, r2: sizes.r2 }, k: { r1: sizes.r1, r2: sizes.r2 } });
    }
    return new PredictorSet(
      {
        format: 'lemo-predictors', version: 1, arch, block, slices: cfg.heads, sliceDim: cfg.headDim, embed: sizes.embed, layers,
        model: { architecture: cfg.architecture, hidden: cfg.hidden, layers: cfg.layers, heads: cfg.heads, vocabSize: cfg.vocabSize },
      },
      params,
    );
  }

  get parameterCount(): number {
    let n = 0;
    for (const p of this.params.values()) n += p.data.length;
    return n;
  }

  toBytes(): Uint8Array {
    return writeSafetensors(this.params, { lemo_predictors: JSON.stringify(this.config) });
  }

  static fromBytes(bytes: Uint8Array, fileName = 'predictors.safetensors'): PredictorSet {
    const meta = safetensorsMetadata(bytes, fileName);
    const json = meta?.lemo_predictors;
    if (typeof json !== 'string') throw new UserError(`${fileName} is a safetensors file but not a predictors file: its header has no lemo_predictors entry.`);
    const config = parsePredictorConfig(json, fileName);
    const tensors = readSafetensors(bytes, fileName);
    const params = new Map<string, HostParam>();
    const flat = inputWidth(config);
    config.layers.forEach((shape, l) => {
      for (const side of SIDES) {
        const { r1, r2 } = shape[side];
        const want: Record<string, number[]> = { w1: [flat, r1], b1: [r1], w2: [r1, r2], b2: [r2], w3: [r2, config.embed], b3: [config.embed] };
        for (const part of PARTS) {
          const name = paramName(l, side, part);
          const t = tensors.get(name);
          if (!t) throw new UserError(`${fileName} lacks ${name}.`);
          if (t.shape.join() !== want[part].join()) throw new UserError(`${fileName}: ${name} has shape [${t.shape}], its header says [${want[part]}].`);
          params.set(name, { shape: t.shape, data: t.data });
        }
      }
    });
    return new PredictorSet(config, params);
  }

  /** Refuses predictors trained for another model. */
  checkModel(cfg: ModelConfig): void {
    const m = this.config.model;
    if (m.hidden !== cfg.hidden || m.layers !== cfg.layers || m.heads !== cfg.heads || m.vocabSize !== cfg.vocabSize) {
      throw new UserError(
        `These predictors were trained for a ${m.architecture} with ${m.layers} layers, hidden ${m.hidden}, ${m.heads} heads, vocabulary ${m.vocabSize}; ` +
          `the loaded model has ${cfg.layers} layers, hidden ${cfg.hidden}, ${cfg.heads} heads, vocabulary ${cfg.vocabSize}.`,
      );
    }
  }
}

const count = z.number().int().min(1);
const sideShape = z.object({ r1: count, r2: count });
/** The predictors description a file's header holds (LEMO.md 3). */
const predictorConfigSchema = z.object({
  format: z.literal('lemo-predictors'),
  version: z.literal(1),
  arch: z.enum(['flat', 'pool']),
  block: count,
  slices: count,
  sliceDim: count,
  embed: count,
  layers: z.array(z.object({ q: sideShape, k: sideShape })),
  model: z.object({ architecture: z.string(), hidden: count, layers: count, heads: count, vocabSize: count }),
  training: z.record(z.string(), z.unknown()).optional(),
});

/** The header's predictors description, checked: format and version first, then every field. */
function parsePredictorConfig(json: string, fileName: string): PredictorConfig {
  let raw: { format?: unknown; version?: unknown; arch?: unknown };
  try {
    raw = JSON.parse(json);
  } catch {
    throw new UserError(`${fileName}: the predictors description in its header is not valid JSON.`);
  }
  if (raw?.format !== 'lemo-predictors' || raw.version !== 1) throw new UserError(`${fileName}: unknown predictors format ${raw?.format} v${raw?.version}.`);
  if (raw.arch !== 'flat' && raw.arch !== 'pool') throw new UserError(`${fileName}: unknown predictor shape "${raw.arch}".`);
  const r = predictorConfigSchema.safeParse(raw);
  if (!r.success) throw new UserError(`${fileName}: the predictors description in its header is malformed (${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}).`);
  return r.data;
}

/** The `__metadata__` of a safetensors header. */
function safetensorsMetadata(bytes: Uint8Array, fileName: string): Record<string, unknown> | undefined {
  if (bytes.length < 8) throw new UserError(`${fileName} is too short to be a safetensors file.`);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n <= 0 || 8 + n > bytes.length) throw new UserError(`${fileName}: its header length (${n}) runs past the end of the file.`);
  try {
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as { __metadata__?: Record<string, unknown> };
    return header.__metadata__;
  } catch {
    throw new UserError(`${fileName}: its header is not valid JSON.`);
  }
}

/** Shape-generic key of a layer's predictor graph. */
export const shapeKey = (s: { q: SideShape; k: SideShape }) => `${s.q.r1}x${s.q.r2}/${s.k.r1}x${s.k.r2}`;

/** The training loss of a predictor graph: SmoothL1 between predicted and oracle tile maps, or between standardised block scores. */
function predictorLoss(b: GraphBuilder, emb: Record<Side, Value>, objective: PredictorObjective): void {
  const mask = b.input('mask', 'float32', ['NB', 'NB']);
  const tiles = b.matmul(emb.q, b.transpose(emb.k, [0, 2, 1])); // (B, NB, NB)
  const smoothL1 = (d: Value) => {
    const abs = b.op1('Where', [b.op1('Less', [d, b.scalar(0, 'float32')]), b.neg(d), d]);
    const quadratic = b.op1('Less', [abs, b.scalar(1, 'float32')]);
    return b.op1('Where', [quadratic, b.mul(b.mul(d, d), b.scalar(0.5, 'float32')), b.sub(abs, b.scalar(0.5, 'float32'))]);
  };
  if (objective === 'tiles') {
    const labels = b.input('labels', 'float32', ['B', 'NB', 'NB']);
    const invCount = b.input('inv_count', 'float32', []);
    b.output(b.mul(b.reduceSum(b.mul(smoothL1(b.sub(tiles, labels)), mask), [0, 1, 2], false), invCount), 'loss');
  } else {
    // The block scores themselves (symmetrised column sums of the tile map), standardised per
    // sequence, against the oracle's standardised block scores: the loss sees only the ranking's
    // material, not the tile map's common level.
    const strict = b.input('strict', 'float32', ['NB', 'NB']);
    const labels = b.input('labels', 'float32', ['B', 'NB']);
    const invNb = b.input('inv_nb', 'float32', []);
    const invCount = b.input('inv_count', 'float32', []);
    const meanNb = (v: Value) => b.mul(b.reduceSum(v, [1]), invNb); // sizes are dynamic: sum, then scale
    const col = b.add(b.reduceSum(b.mul(tiles, mask), [1], false), b.reduceSum(b.mul(tiles, strict), [2], false)); // (B, NB)
    const centred = b.sub(col, meanNb(col));
    const sd = b.sqrt(b.add(meanNb(b.mul(centred, centred)), b.scalar(1e-6, 'float32')));
    b.output(b.mul(b.reduceSum(smoothL1(b.sub(b.div(centred, sd), labels)), [0, 1], false), invCount), 'loss');
  }
}

/**
 * One layer's predictors. Inputs: h (B, T, C), the layer's input-norm weights, rows (NB, b)
 * row indices of each block (padding repeats a row), valid (NB, b, 1) 1/0 (the flat shape only), and the predictor
 * tensors named `q.w1` … `k.b3` (biases as (1, r)). Outputs eq, ek (B, NB, E).
 * With `train`: also mask (NB, NB) 1/0 (query block ≥ key block) and, for the `tiles`
 * objective, labels (B, NB, NB) and inv_count (scalar): the mean SmoothL1 loss over masked
 * tiles; for `scores`, strict (NB, NB) (query block > key block), labels (B, NB), inv_nb
 * (1/NB) and inv_count (1/(B·NB)): the mean
 * SmoothL1 loss between standardised block scores. Also outputs, per hidden unit, how many of
 * its activations were above zero (`live_<side>1`, `live_<side>2`).
 */
export type PredictorObjective = 'tiles' | 'scores';

export function buildPredictorGraph(cfg: ModelConfig, pc: PredictorConfig, shape: { q: SideShape; k: SideShape }, train: boolean, objective: PredictorObjective = 'tiles'): GraphBuilder {
  const b = new GraphBuilder(`predictor_${train ? 'train' : 'fwd'}_${shapeKey(shape)}`);
  const { hidden: C } = cfg;
  const { block, slices: S, sliceDim: D, embed: E } = pc;
  const h = b.input('h', 'float32', ['B', 'T', C]);
  const rows = b.input('rows', 'int64', ['NB', block]);
  const x = applyNorm(b, h, familyOf(cfg).inputNorm, cfg, 'float32');
  const gathered = b.op1('Gather', [x, rows], { axis: 1 }); // (B, NB, b, C); padding repeats the last row
  // flat: (B, NB, S, b·D), padding rows zeroed; pool: (B, NB, b, C), padding repeating a row the
  // max already sees (so only flat reads `valid`: an input no node reads, fed from the GPU, is
  // read back at every run).
  const valid = () => b.input('valid', 'float32', ['NB', block, 1]);
  const input = pc.arch === 'flat'
    ? b.reshape(b.transpose(b.reshape(b.mul(gathered, valid()), [0, 0, block, S, D]), [0, 1, 3, 2, 4]), [0, 0, S, block * D])
    : gathered;
  const emb: Record<Side, Value> = {} as Record<Side, Value>;
  const live: Value[] = [];
  for (const side of SIDES) {
    const { r1, r2 } = shape[side];
    const dense = (x0: Value, part: number, i: number, o: number) =>
      b.add(b.matmul(x0, b.input(`${side}.w${part}`, 'float32', [i, o])), b.input(`${side}.b${part}`, 'float32', [1, o]));
    const a1 = b.op1('Relu', [dense(input, 1, inputWidth(pc), r1)]);
    const a2 = b.op1('Relu', [dense(a1, 2, r1, r2)]);
    emb[side] = pc.arch === 'flat'
      ? b.reduceSum(dense(a2, 3, r2, E), [2], false) // (B, NB, E): summed over slices
      : dense(b.op1('ReduceMax', [a2, b.ints([2])], { keepdims: 0 }), 3, r2, E); // max over the block's tokens
    if (train) {
      const count = (a: Value) => b.reduceSum(b.cast(b.op1('Greater', [a, b.scalar(0, 'float32')]), 'float32'), [0, 1, 2], false);
      live.push(count(a1), count(a2));
    }
  }
  if (!train) {
    b.output(emb.q, 'eq');
    b.output(emb.k, 'ek');
    return b;
  }
  predictorLoss(b, emb, objective);
  SIDES.forEach((side, i) => {
    b.output(live[2 * i], `live_${side}1`);
    b.output(live[2 * i + 1], `live_${side}2`);
  });
  return b;
}

/** Row indices (NB, b) of each block and its validity (NB, b, 1): the last block may be short. */
export function blockLayout(T: number, block: number): { nb: number; rows: BigInt64Array; valid: Float32Array } {
  const nb = Math.ceil(T / block);
  const rows = new BigInt64Array(nb * block);
  const valid = new Float32Array(nb * block);
  for (let i = 0; i < nb * block; i++) {
    rows[i] = BigInt(Math.min(i, T - 1));
    valid[i] = i < T ? 1 : 0;
  }
  return { nb, rows, valid };
}

/** Predicted tile map from the two embeddings (B, NB, E), summed over the batch: tiles[m·NB + n], n ≤ m. */
export function predictedTiles(eq: Float32Array, ek: Float32Array, nb: number, E: number): Float64Array {
  const B = eq.length / (nb * E);
  const tiles = new Float64Array(nb * nb);
  for (let bi = 0; bi < B; bi++) {
    const o = bi * nb * E;
    for (let m = 0; m < nb; m++) {
      for (let n = 0; n <= m; n++) {
        let s = 0;
        for (let e = 0; e < E; e++) s += eq[o + m * E + e] * ek[o + n * E + e];
        tiles[m * nb + n] += s;
      }
    }
  }
  return tiles;
}

/**
 * The block scores of the predicted tile map (columnScores(predictedTiles(…)), without the map):
 * block n's score is Σ_{m≥n} e_q(m)·e_k(n) + Σ_{m<n} e_q(n)·e_k(m), that is (suffix sum of e_q
 * from n)·e_k(n) + e_q(n)·(prefix sum of e_k before n): O(NB·E) per sequence instead of O(NB²·E).
 */
export function predictedScores(eq: Float32Array, ek: Float32Array, nb: number, E: number): Float64Array {
  const B = eq.length / (nb * E);
  const scores = new Float64Array(nb);
  const suffix = new Float64Array(E);
  const prefix = new Float64Array(E);
  for (let bi = 0; bi < B; bi++) {
    const o = bi * nb * E;
    suffix.fill(0);
    for (let n = nb - 1; n >= 0; n--) {
      let s = 0;
      for (let e = 0; e < E; e++) {
        suffix[e] += eq[o + n * E + e];
        s += suffix[e] * ek[o + n * E + e];
      }
      scores[n] += s;
    }
    prefix.fill(0);
    for (let n = 0; n < nb; n++) {
      let s = 0;
      for (let e = 0; e < E; e++) {
        s += eq[o + n * E + e] * prefix[e];
        prefix[e] += ek[o + n * E + e];
      }
      scores[n] += s;
    }
  }
  return scores;
}

/** Predictors on the device, with their forward graph per layer shape. */
export class DevicePredictors {
  private graphs = new Map<string, Graph>();
  readonly tensors: Map<string, Tensor>[] = [];
  private layout: { T: number; nb: number; rows: Tensor; valid: Tensor | null } | null = null;
  /** Hidden widths rounded up to PAD_WIDTH on the device (upload under WebGPU): each layer's shape as uploaded. */
  private shapes: { q: SideShape; k: SideShape }[];

  private constructor(readonly rt: Runtime, readonly set: PredictorSet, readonly cfg: ModelConfig, padded: boolean) {
    this.shapes = set.config.layers.map((s) => (padded ? { q: paddedShape(s.q), k: paddedShape(s.k) } : s));
  }

  /**
   * The predictors' tensors on the runtime's device. Under WebGPU their hidden widths are padded
   * with zero units to a multiple of PAD_WIDTH (same embeddings): pruning leaves widths such as
   * 101, and onnxruntime's WebGPU MatMul takes a slow path on them (a lemo step's predictor
   * products took a fifth of its GPU time on an H200; bench/RESULTS.md).
   */
  static async upload(rt: Runtime, set: PredictorSet, cfg: ModelConfig): Promise<DevicePredictors> {
    set.checkModel(cfg);
    const d = new DevicePredictors(rt, set, cfg, rt.onDevice);
    for (let l = 0; l < set.config.layers.length; l++) d.tensors.push(await uploadLayer(rt, set, l, rt.onDevice));
    return d;
  }

  /** Predictors whose tensors are already on the device (during training). */
  static wrap(rt: Runtime, set: PredictorSet, cfg: ModelConfig, tensors: Map<string, Tensor>[]): DevicePredictors {
    const d = new DevicePredictors(rt, set, cfg, false);
    d.tensors.push(...tensors);
    return d;
  }

  get block(): number {
    return this.set.config.block;
  }

  /** The predicted block scores of one layer for its input h (B, T, C): what the policy picks blocks by. */
  async scores(layer: number, h: Tensor, T: number, normWeights: Record<string, Tensor>): Promise<Float64Array> {
    const pc = this.set.config;
    const shape = this.shapes[layer];
    const key = shapeKey(shape);
    let g = this.graphs.get(key);
    if (!g) {
      g = buildPredictorGraph(this.cfg, pc, shape, false).build();
      this.graphs.set(key, g);
    }
    const rt = this.rt;
    const { nb, rows, valid } = await this.layoutOn(T);
    const out = await rt.run(g, { h, ...normWeights, ...Object.fromEntries(this.tensors[layer]), rows, ...(valid ? { valid } : {}) });
    const [eq, ek] = (await rt.readAll([out.eq, out.ek])) as Float32Array[];
    rt.dispose(out.eq);
    rt.dispose(out.ek);
    return predictedScores(eq, ek, nb, pc.embed);
  }

  /** The block layout of T tokens on the device, made once for every layer (and kept until another T). */
  private async layoutOn(T: number): Promise<{ nb: number; rows: Tensor; valid: Tensor | null }> {
    if (this.layout?.T !== T) {
      this.freeLayout();
      const rt = this.rt;
      const { nb, rows, valid } = blockLayout(T, this.block);
      this.layout = {
        T, nb,
        // The indices stay a host tensor that onnxruntime uploads with each run (its int64
        // tensors come back to the host); the padding mask exists for the flat shape only.
        rows: rt.tensor('int64', rows, [nb, this.block]),
        valid: this.set.config.arch === 'flat' ? await rt.upload(rt.tensor('float32', valid, [nb, this.block, 1])) : null,
      };
    }
    return this.layout;
  }

  /** Frees the block layout kept on the device (predictors that wrap tensors they do not own free only this). */
  freeLayout(): void {
    if (this.layout?.valid) this.rt.dispose(this.layout.valid);
    this.layout = null;
  }

  dispose(): void {
    for (const m of this.tensors) for (const t of m.values()) this.rt.dispose(t);
    this.tensors.length = 0;
    this.freeLayout();
  }
}

/** One layer's tensors on the device under the graph's input names (`q.w1` …, biases as (1, r)). */
export async function uploadLayer(rt: Runtime, set: PredictorSet, layer: number, pad = false): Promise<Map<string, Tensor>> {
  const m = new Map<string, Tensor>();
  for (const side of SIDES) {
    const params = PARTS.map((part) => set.params.get(paramName(layer, side, part))!);
    const parts = pad ? padSide(params, set.config.layers[layer][side]) : params;
    for (let i = 0; i < PARTS.length; i++) {
      const p = parts[i];
      const shape = p.shape.length === 1 ? [1, p.shape[0]] : p.shape;
      const t = await rt.upload(rt.tensor('float32', p.data, shape));
      rt.memory.track(t, 'weights');
      m.set(`${side}.${PARTS[i]}`, t);
    }
  }
  return m;
}

/** Hidden widths on the device are multiples of this (onnxruntime's WebGPU MatMul reads four floats at a time). */
export const PAD_WIDTH = 4;

const roundUp = (n: number) => Math.ceil(n / PAD_WIDTH) * PAD_WIDTH;

export function paddedShape(s: SideShape): SideShape {
  return { r1: roundUp(s.r1), r2: roundUp(s.r2) };
}

/**
 * One side's w1, b1, w2, b2, w3, b3 with its hidden widths r1 and r2 padded by zero units (zero
 * columns of w1 and b1, zero rows and columns of w2 and b2, zero rows of w3): a padded unit is
 * ReLU(0) = 0 and adds nothing downstream, so the embeddings are the same.
 */
export function padSide(params: HostParam[], s: SideShape): HostParam[] {
  const [w1, b1, w2, b2, w3, b3] = params;
  const { r1: p1, r2: p2 } = paddedShape(s);
  const matrix = (w: HostParam, rows: number, cols: number): HostParam => {
    const [r, c] = w.shape;
    const out = new Float32Array(rows * cols);
    for (let i = 0; i < r; i++) out.set(w.data.subarray(i * c, (i + 1) * c), i * cols);
    return { shape: [rows, cols], data: out };
  };
  const vector = (b: HostParam, n: number): HostParam => {
    const out = new Float32Array(n);
    out.set(b.data);
    return { shape: [n], data: out };
  };
  return [matrix(w1, w1.shape[0], p1), vector(b1, p1), matrix(w2, p1, p2), vector(b2, p2), matrix(w3, p2, w3.shape[1]), b3];
}

/** The norm weights a predictor graph reads, from a layer's weights. */
export function normWeights(cfg: ModelConfig, layerWeights: Record<string, Tensor>): Record<string, Tensor> {
  const names = normParams(familyOf(cfg).inputNorm);
  return Object.fromEntries(names.map((n) => [n, layerWeights[n]]));
}

/** Share of the oracle's kept blocks that the prediction also keeps. */
export function recall(oracle: number[] | null, predicted: number[] | null): number {
  if (!oracle) return 1;
  if (!predicted) return 1;
  const p = new Set(predicted);
  return oracle.filter((j) => p.has(j)).length / oracle.length;
}

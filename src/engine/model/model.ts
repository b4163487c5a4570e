// A Hugging Face model folder in memory: config parsed, weights laid out as the graphs want them
// (linear weights transposed to [in, out] once, at load). Matrices stored as bfloat16 or float16
// stay 2 bytes a value (the device widens them when a graph reads them); the rest is float32.
import { UserError } from '../errors';
import type { ModelSummary } from '../events';
import { layerModules, layerNorms, layerPrefix } from './architecture';
import { familyOf, normParams } from './families';
import { checkRopeScale, contextReach, parseConfig, type ModelConfig } from './config';
import { elementsOf, halfBits, halfKindOf, type HalfKind } from './safetensors';
import { labelAtStart, readTensor, weightSet, type WeightFile, type WeightSet } from './weights';

export interface HostTensor {
  shape: number[];
  /** float32 values, or the 2-byte bits of a `half` tensor. */
  data: Float32Array | Uint16Array;
  half?: HalfKind;
}

/** Bytes a host tensor holds. */
export const hostBytes = (t: HostTensor): number => t.data.length * (t.half ? 2 : 4);

export interface Model {
  config: ModelConfig;
  /** Per layer: graph input name → weight (e.g. self_attn.q_proj.weight as [in, out]). */
  layers: Map<string, HostTensor>[];
  embed: HostTensor;
  /** GPT-2 learned positions. */
  positions: HostTensor | null;
  /** Final norm inputs by graph name (norm.weight, or ln_f.weight and ln_f.bias). */
  finalNorm: Map<string, HostTensor>;
  /** LM head [V, C], vocab-major as in the file: the embedding itself (the same tensor) when tied. */
  lmHead: HostTensor;
  parameterCount: number;
  /** The linear RoPE scale it was loaded with (absent: 1); a run's scale of null returns to it. */
  ropeScale?: number;
}

export interface ModelFiles {
  config: unknown;
  /** model.safetensors's bytes, or the checked files of the checkpoint (its shards, with `index`). */
  weights: Uint8Array | WeightFile[];
  /** model.safetensors.index.json, for sharded weights. */
  index?: unknown;
}

function transpose2d(t: HostTensor): HostTensor {
  const [rows, cols] = t.shape;
  if (t.data.length === 0) return { shape: [cols, rows], data: t.data }; // a shape checked, nothing read
  const out = t.half ? new Uint16Array(rows * cols) : new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c];
  return { shape: [cols, rows], data: out, ...(t.half ? { half: t.half } : {}) };
}

/** Linear RoPE position scaling for contexts beyond the model's positions (Llama family). */
function scaleRope(config: ModelConfig, ropeScale: number | undefined): void {
  if (ropeScale === undefined || ropeScale === 1) return;
  applyRopeScale(config, ropeScale);
}

/**
 * Sets a linear RoPE scale on a loaded model's config (it replaces the one config.json gives),
 * checked: a positive number up to MAX_ROPE_SCALE, on a model whose RoPE is not scaled otherwise.
 */
export function applyRopeScale(config: ModelConfig, ropeScale: number, what = 'The RoPE scale asked for (--rope-scale)'): void {
  if (ropeScale === (config.rope?.linearFactor ?? 1)) return;
  if (!config.rope) throw new UserError('RoPE scaling applies to the Llama family only; GPT-2 models have learned positions.');
  checkRopeScale(ropeScale, what);
  if (config.rope.llama3 || config.rope.yarn) {
    const kind = config.rope.llama3 ? 'llama3' : 'yarn';
    throw new UserError(
      `This model already scales its RoPE (rope_type "${kind}" in config.json) and reaches ${contextReach(config)} tokens; ` +
        'a linear RoPE scale (--rope-scale) cannot be added to it: leave --rope-scale out.',
    );
  }
  config.rope.linearFactor = ropeScale;
}

/** Checkpoint names of the model's lookup tables (embedding, learned positions, an untied LM head): stored in chunks of rows when over one device buffer. */
export function lookupTableNames(config: ModelConfig): string[] {
  const family = familyOf(config);
  return [family.embedTensor, ...(family.positionsTensor ? [family.positionsTensor] : []), 'lm_head.weight'];
}

/** Bytes of the model's tensors (a tied head is the embedding, counted once). */
export function modelHostBytes(model: Model): number {
  let n = hostBytes(model.embed) + (model.positions ? hostBytes(model.positions) : 0) + (model.lmHead === model.embed ? 0 : hostBytes(model.lmHead));
  for (const t of model.finalNorm.values()) n += hostBytes(t);
  for (const layer of model.layers) for (const t of layer.values()) n += hostBytes(t);
  return n;
}

/** What the shells show of a loaded model. */
export function modelSummary(model: Model): ModelSummary {
  const c = model.config;
  return {
    architecture: c.architecture, family: c.family, parameters: model.parameterCount, layers: c.layers, hidden: c.hidden,
    heads: c.heads, kvHeads: c.kvHeads, vocabSize: c.vocabSize, maxPositions: c.maxPositions, weightBytes: model.parameterCount * 4,
    ropeScale: c.rope && !c.rope.llama3 && !c.rope.yarn ? c.rope.linearFactor : null,
  };
}

/**
 * Refuses weights holding layers past config.json's layer count: they would be left out
 * without a word (a config of another size, or a file of another model).
 */
function checkLayerCount(config: ModelConfig, names: string[], label: string): void {
  const has = (l: number) => {
    const p = layerPrefix(config, l);
    return names.some((n) => n.startsWith(p) || (p.startsWith('transformer.') && n.startsWith(p.slice('transformer.'.length))));
  };
  let held = config.layers;
  while (has(held)) held++;
  if (held === config.layers) return;
  const field = config.family === 'gpt2' ? 'n_layer' : 'num_hidden_layers';
  throw new UserError(`${label} holds ${held} layers but config.json's ${field} is ${config.layers}: set ${field} to ${held}, or use the config.json that came with these weights.`);
}


/** A tensor as the model holds it: a matrix stored in 2 bytes stays so, the rest widened to float32. */
function readFrozen(set: WeightSet, key: string, shape: number[]): HostTensor {
  const { file, entry } = set.tensors.get(key)!;
  const half = shape.length === 2 ? halfKindOf(entry.dtype) : null;
  if (half) return { shape, data: halfBits(file.read(entry)), half };
  return { shape, data: readTensor(set, key) };
}

type Getter = (name: string, shape: number[], transposed?: boolean) => HostTensor;

/**
 * A tensor by name, its shape checked against the config (GPT-2 checkpoints appear with and
 * without the "transformer." prefix); `read` false checks only, from the headers, and gives an empty tensor.
 */
function getter(config: ModelConfig, set: WeightSet, read: boolean): Getter {
  return (name, shape, transposed = false) => {
    const key = [name, name.replace(/^transformer\./, '')].find((n) => set.tensors.has(n));
    if (!key) throw new UserError(`${labelAtStart(set)} has no tensor ${name}, which a ${config.architecture} with this config.json needs.`);
    const have = set.tensors.get(key)!.entry.shape;
    if (have.length !== shape.length || have.some((d, i) => d !== shape[i])) {
      throw new UserError(`${labelAtStart(set)}: ${name} has shape [${have}] but config.json implies [${shape}].`);
    }
    if (!read) return { shape, data: new Float32Array(0) };
    const t = readFrozen(set, key, shape);
    return transposed ? transpose2d(t) : t;
  };
}

/** The model's tensors laid out as the graphs want them. */
function layout(config: ModelConfig, get: Getter, untiedHead: boolean): Omit<Model, 'config' | 'parameterCount'> {
  const C = config.hidden;
  const family = familyOf(config);
  const layers: Map<string, HostTensor>[] = [];
  for (let l = 0; l < config.layers; l++) {
    const p = layerPrefix(config, l);
    const w = new Map<string, HostTensor>();
    for (const m of layerModules(config)) {
      w.set(`${m.name}.weight`, get(`${p}${m.name}.weight`, m.conv1d ? [m.in, m.out] : [m.out, m.in], !m.conv1d));
      if (m.bias) w.set(`${m.name}.bias`, get(`${p}${m.name}.bias`, [m.out]));
    }
    for (const n of layerNorms(config)) w.set(n.name, get(`${p}${n.name}`, [n.size]));
    layers.push(w);
  }
  const embed = get(family.embedTensor, [config.vocabSize, C]);
  const positions = family.positionsTensor ? get(family.positionsTensor, [config.maxPositions, C]) : null;
  const finalNorm = new Map<string, HostTensor>(normParams(family.finalNorm).map((n) => [n, get(`${family.finalNormPrefix}${n}`, [C])]));
  const lmHead = untiedHead ? get('lm_head.weight', [config.vocabSize, C]) : embed;
  return { layers, embed, positions, finalNorm, lmHead };
}

/** Loads a model folder: every name and shape is checked against the headers before any tensor is read. */
export function loadModel(files: ModelFiles, ropeScale?: number): Model {
  const config = parseConfig(files.config);
  scaleRope(config, ropeScale);
  const set = weightSet(files.weights, files.index);
  checkLayerCount(config, [...set.tensors.keys()], labelAtStart(set));
  const untiedHead = !config.tiedEmbeddings && set.tensors.has('lm_head.weight');
  if (!config.tiedEmbeddings && !untiedHead) throw new UserError(`${labelAtStart(set)} has no lm_head.weight, and config.json says the embeddings are not tied.`);
  layout(config, getter(config, set, false), untiedHead);
  const parts = layout(config, getter(config, set, true), untiedHead);
  let parameterCount = 0;
  for (const { entry } of set.tensors.values()) parameterCount += elementsOf(entry);
  return { config, ...parts, parameterCount, ropeScale: config.rope?.linearFactor ?? 1 };
}

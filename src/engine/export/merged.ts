// The merged model: the base checkpoint with every LoRA pair folded into its weight,
// W + scale·B·A (transposed for GPT-2's Conv1D, as PEFT's fan_in_fan_out merge does), written
// as a Hugging Face folder under the original's tensor names and layout, so transformers loads
// it alone. Float tensors are written as float32 and config.json says so; other tensors keep
// their bytes.
import { UserError } from '../errors';
import { layerModules, layerPrefix } from '../model/architecture';
import { checkRopeScale, parseConfig, type ModelConfig } from '../model/config';
import { matchesTarget, peftName, type LoraConfig } from '../model/lora';
import { decodeTensor, writeSafetensors, type StWrite } from '../model/safetensors';
import { labelAtStart, weightSet, type WeightFile } from '../model/weights';

export interface FolderFile {
  name: string;
  bytes: Uint8Array;
}

/** Files a model folder may carry that the merged folder copies as they are. */
export const COPIED_FILES = /^(tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|added_tokens\.json|vocab\.json|merges\.txt|tokenizer\.model|generation_config\.json)$/;

const FLOATS = new Set(['F32', 'F16', 'BF16', 'F64']);

/** config.json of the merged folder: float32 weights, and the RoPE scale the adapter was trained with. */
export function mergedConfig(raw: Record<string, unknown>, cfg: ModelConfig, ropeScale = 1): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  if ('torch_dtype' in out) out.torch_dtype = 'float32';
  if ('dtype' in out || !('torch_dtype' in out)) out.dtype = 'float32';
  if (ropeScale !== 1) {
    if (!cfg.rope) throw new UserError('RoPE scaling applies to the Llama family only; GPT-2 models have learned positions.');
    checkRopeScale(ropeScale, 'The RoPE scale to write into config.json (--rope-scale)');
    const linear = { rope_type: 'linear', factor: ropeScale };
    if (out.rope_parameters && typeof out.rope_parameters === 'object') out.rope_parameters = { ...(out.rope_parameters as object), ...linear };
    else out.rope_scaling = { ...linear, type: 'linear' };
  }
  return out;
}

/**
 * Folds the adapter into the weights. `adapter` holds PEFT's tensors
 * (base_model.model.<module>.lora_A.weight [r, in], lora_B.weight [out, r]).
 */
export function mergeAdapter(
  model: { config: unknown; weights: Uint8Array | WeightFile[]; index?: unknown },
  lora: LoraConfig,
  adapter: Map<string, { shape: number[]; data: Float32Array }>,
  opts: { ropeScale?: number } = {},
): FolderFile[] {
  const cfg = parseConfig(model.config);
  const config = mergedConfig(model.config as Record<string, unknown>, cfg, opts.ropeScale);
  const set = weightSet(model.weights, model.index);
  const byName = set.tensors;
  const out = new Map<string, StWrite>();
  for (const [name, { file, entry: e }] of set.tensors) {
    if (FLOATS.has(e.dtype)) out.set(name, { shape: e.shape, data: decodeTensor(file.read(e), e.dtype) });
    else out.set(name, { shape: e.shape, dtype: e.dtype, raw: file.read(e).slice() });
  }
  const used = new Set<string>();
  let merged = 0;
  for (let l = 0; l < cfg.layers; l++) {
    for (const m of layerModules(cfg)) {
      const full = `${layerPrefix(cfg, l)}${m.name}`;
      if (!matchesTarget(full, lora.targetModules)) continue;
      const [aName, bName] = [peftName(cfg, l, m.name, 'A'), peftName(cfg, l, m.name, 'B')];
      const A = adapter.get(aName);
      const B = adapter.get(bName);
      if (!A || !B) throw new UserError(`adapter_model.safetensors has no ${A ? bName : aName}, which its target_modules ask for.`);
      if (A.shape.join() !== `${lora.r},${m.in}` || B.shape.join() !== `${m.out},${lora.r}`) {
        throw new UserError(`adapter_model.safetensors: ${aName} [${A.shape}] and ${bName} [${B.shape}] do not fit ${full} (${m.in} → ${m.out}, r ${lora.r}).`);
      }
      // GPT-2 checkpoints appear with and without the "transformer." prefix.
      const wName = [`${full}.weight`, `${full}.weight`.replace(/^transformer\./, '')].find((n) => byName.has(n));
      const W = wName ? out.get(wName) : undefined;
      if (!W || !('data' in W)) throw new UserError(`${labelAtStart(set)} has no float tensor ${full}.weight to merge the adapter into.`);
      foldInto(W.data, A.data, B.data, m.in, m.out, lora.r, lora.scale, m.conv1d);
      used.add(aName).add(bName);
      merged++;
    }
  }
  const unused = [...adapter.keys()].filter((n) => !used.has(n));
  if (unused.length) throw new UserError(`adapter_model.safetensors holds ${unused[0]}${unused.length > 1 ? ` and ${unused.length - 1} more tensors` : ''}, which this model's modules do not match: the adapter belongs to another model.`);
  if (merged === 0) throw new UserError("The adapter's target_modules match no module of this model.");
  return [
    { name: 'config.json', bytes: new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`) },
    { name: 'model.safetensors', bytes: writeSafetensors(out, { format: 'pt' }) },
  ];
}

/** W += scale·B·A; Linear stores W as [out, in], Conv1D as [in, out]. Sums in float64. */
function foldInto(W: Float32Array, A: Float32Array, B: Float32Array, nIn: number, nOut: number, r: number, scale: number, conv1d: boolean): void {
  for (let o = 0; o < nOut; o++) {
    for (let i = 0; i < nIn; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += B[o * r + k] * A[k * nIn + i];
      W[conv1d ? i * nOut + o : o * nIn + i] += scale * s;
    }
  }
}

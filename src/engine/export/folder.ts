// The trained run as a folder: PEFT's two files (and the predictors when there are some), or
// the base model with the adapter folded in, with the config, tokenizer and RoPE scale it
// trained with.
import type { ModelConfig } from '../model/config';
import type { LoraConfig } from '../model/lora';
import type { ModelFiles } from '../model/model';
import { mergeAdapter, type FolderFile } from './merged';
import { adapterConfigJson, adapterSafetensors } from './peft';

type Tensors = Map<string, { shape: number[]; data: Float32Array }>;
/** policy: the folder's policy.json as read (JSON), its default keep policy, when it has one. */
export type LoadedFolder = ModelFiles & { tokenizer?: unknown; tokenizerConfig?: unknown; policy?: unknown };

/** adapter_config.json and adapter_model.safetensors. */
export function adapterFiles(lora: LoraConfig, cfg: ModelConfig, baseModel: string, tensors: Tensors): { config: string; weights: Uint8Array } {
  return { config: adapterConfigJson(lora, cfg, baseModel), weights: adapterSafetensors(tensors) };
}

export function adapterFolder(adapter: { config: string; weights: Uint8Array }, predictors: Uint8Array | null): FolderFile[] {
  const enc = new TextEncoder();
  const files = [{ name: 'adapter_config.json', bytes: enc.encode(adapter.config) }, { name: 'adapter_model.safetensors', bytes: adapter.weights }];
  if (predictors) files.push({ name: 'predictors.safetensors', bytes: predictors });
  return files;
}

/** The merged model's folder; the RoPE scale is written when it differs from the one configured. */
export function mergedFolder(f: LoadedFolder, cfg: ModelConfig, lora: LoraConfig, tensors: Tensors): FolderFile[] {
  const enc = new TextEncoder();
  const ropeScale = cfg.rope?.linearFactor ?? 1;
  const original = f.config as { rope_parameters?: { factor?: number }; rope_scaling?: { factor?: number } | null };
  const configured = original.rope_parameters?.factor ?? original.rope_scaling?.factor ?? 1;
  const merged = mergeAdapter(f, lora, tensors, { ropeScale: ropeScale === configured ? 1 : ropeScale });
  if (f.tokenizer) merged.push({ name: 'tokenizer.json', bytes: enc.encode(JSON.stringify(f.tokenizer)) });
  if (f.tokenizerConfig && Object.keys(f.tokenizerConfig as object).length) merged.push({ name: 'tokenizer_config.json', bytes: enc.encode(JSON.stringify(f.tokenizerConfig, null, 2)) });
  return merged;
}

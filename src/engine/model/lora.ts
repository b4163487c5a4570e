// LoRA with PEFT's settings and names: target_modules matched as PEFT does (a list matches a
// module whose name equals or ends with ".target"; a string is a full-match regex),
// scale = lora_alpha / r (or / √r with use_rslora).
import { UserError } from '../errors';
import type { TrainSettings } from '../settings';
import type { ModelConfig } from './config';
import { layerModules, layerPrefix } from './architecture';

export interface LoraConfig {
  r: number;
  alpha: number;
  scale: number;
  targetModules: string[] | string;
  rslora: boolean;
}

export const DEFAULT_TARGETS: Record<ModelConfig['family'], string[]> = {
  llama: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
  gpt2: ['c_attn', 'attn.c_proj'],
};

export function loraConfig(r: number, alpha: number, targetModules: string[] | string, rslora = false): LoraConfig {
  if (!Number.isInteger(r) || r < 1) throw new UserError(`LoRA rank r must be a positive integer, got ${r}.`);
  if (!(alpha > 0)) throw new UserError(`lora_alpha must be positive, got ${alpha}.`);
  if (typeof targetModules === 'string') {
    try {
      targetRegex(targetModules);
    } catch (e) {
      throw new UserError(`target_modules ${JSON.stringify(targetModules)} is not a regular expression that compiles (${(e as Error).message}); give a list of module names or a valid regex.`);
    }
  }
  return { r, alpha, targetModules, rslora, scale: rslora ? alpha / Math.sqrt(r) : alpha / r };
}

/** Reads PEFT's adapter_config.json. */
/** The LoRA of run settings: their rank and alpha, and their target modules (none given: the family's DEFAULT_TARGETS). */
export function settingsLora(s: Pick<TrainSettings, 'loraR' | 'loraAlpha' | 'targetModules'>, cfg: ModelConfig): LoraConfig {
  return loraConfig(s.loraR, s.loraAlpha, s.targetModules.length ? s.targetModules : DEFAULT_TARGETS[cfg.family]);
}

export function parseAdapterConfig(json: unknown): LoraConfig {
  const c = json as Record<string, unknown>;
  if (typeof c !== 'object' || c === null) throw new UserError('adapter_config.json is not a JSON object.');
  if (c.peft_type !== undefined && c.peft_type !== 'LORA') throw new UserError(`adapter_config.json has peft_type ${String(c.peft_type)}; only LORA adapters are supported.`);
  if (c.use_dora) throw new UserError('DoRA adapters (use_dora) are not supported.');
  const targets = c.target_modules;
  if (!(typeof targets === 'string' || (Array.isArray(targets) && targets.every((t) => typeof t === 'string')))) {
    throw new UserError('adapter_config.json needs target_modules (a list of module names or a regex).');
  }
  return loraConfig(Number(c.r), Number(c.lora_alpha), targets as string[] | string, Boolean(c.use_rslora));
}

/** Full module names (e.g. model.layers.0.self_attn.q_proj) for one layer. */
function fullName(cfg: ModelConfig, layer: number, module: string): string {
  return `${layerPrefix(cfg, layer)}${module}`;
}

/** A string target_modules as PEFT reads it: a regex the whole module name must match. */
const targetRegex = (pattern: string) => new RegExp(`^(?:${pattern})$`);

export function matchesTarget(name: string, targets: string[] | string): boolean {
  if (typeof targets === 'string') return targetRegex(targets).test(name);
  return targets.some((t) => name === t || name.endsWith(`.${t}`));
}

/** Which modules of the layer LoRA targets (same for every layer unless a regex says otherwise). */
export function targetedModules(cfg: ModelConfig, lora: LoraConfig, layer: number): Set<string> {
  return new Set(layerModules(cfg).filter((m) => matchesTarget(fullName(cfg, layer, m.name), lora.targetModules)).map((m) => m.name));
}

export function peftName(cfg: ModelConfig, layer: number, module: string, factor: 'A' | 'B'): string {
  return `base_model.model.${fullName(cfg, layer, module)}.lora_${factor}.weight`;
}

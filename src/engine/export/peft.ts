// The adapter in PEFT's own format: adapter_config.json + adapter_model.safetensors, which
// peft.PeftModel.from_pretrained loads as it is.
import type { ModelConfig } from '../model/config';
import { familyOf } from '../model/families';
import type { LoraConfig } from '../model/lora';
import { writeSafetensors } from '../model/safetensors';

export function adapterConfigJson(lora: LoraConfig, cfg: ModelConfig, baseModel: string): string {
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: lora.r,
    lora_alpha: lora.alpha,
    lora_dropout: 0.0,
    target_modules: lora.targetModules,
    bias: 'none',
    fan_in_fan_out: familyOf(cfg).fanInFanOut,
    use_rslora: lora.rslora,
    use_dora: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

export function adapterSafetensors(tensors: Map<string, { shape: number[]; data: Float32Array }>): Uint8Array {
  return writeSafetensors(tensors, { format: 'pt' });
}

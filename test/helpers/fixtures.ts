import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/engine/model/model';
import { parseAdapterConfig } from '../../src/engine/model/lora';
import { readSafetensors } from '../../src/engine/model/safetensors';

/** A golden fixture folder made by tools/golden/make_golden.py (model and adapter may live elsewhere). */
export function readFixture(dir: string, modelDir = join(dir, 'model'), adapterDir = join(dir, 'adapter')) {
  const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
  return {
    model: loadModel({ config: json(join(modelDir, 'config.json')), weights: new Uint8Array(readFileSync(join(modelDir, 'model.safetensors'))) }),
    lora: parseAdapterConfig(json(join(adapterDir, 'adapter_config.json'))),
    adapter: readSafetensors(new Uint8Array(readFileSync(join(adapterDir, 'adapter_model.safetensors')))),
    ids: json(join(dir, 'tokens.json')).input_ids as number[][],
    expected: json(join(dir, 'expected.json')) as { loss: number; loss_bf16_weights?: number },
    grads: readSafetensors(new Uint8Array(readFileSync(join(dir, 'grads.safetensors')))),
  };
}


import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/engine/model/model';
import { parseAdapterConfig } from '../../src/engine/model/lora';
import { readSafetensors } from '../../src/engine/model/safetensors';

/** A golden fixture folder made by tools/golden/make_golden.py. */
export function readFixture(dir: string, modelDir = 'model') {
  const json = (p: string) => JSON.parse(readFileSync(join(dir, p), 'utf8'));
  return {
    model: loadModel({ config: json(`${modelDir}/config.json`), weights: new Uint8Array(readFileSync(join(dir, `${modelDir}/model.safetensors`))) }),
    lora: parseAdapterConfig(json('adapter/adapter_config.json')),
    adapter: readSafetensors(new Uint8Array(readFileSync(join(dir, 'adapter/adapter_model.safetensors')))),
    ids: json('tokens.json').input_ids as number[][],
    expected: json('expected.json') as { loss: number; loss_bf16_weights?: number },
    grads: readSafetensors(new Uint8Array(readFileSync(join(dir, 'grads.safetensors')))),
  };
}


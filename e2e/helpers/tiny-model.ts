// A small Llama written on the fly as a Hugging Face folder (config.json, model.safetensors and
// the default model's tokenizer.json), seeded random weights: the model a user brings.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from '../../src/engine/model/safetensors';

export interface TinyModel {
  dir: string;
  parameters: number;
  weightsFileBytes: number;
  vocab: number;
  layers: number;
}

/** Writes the folder; every weight is N(0, 0.02²)-like uniform noise, norms are ones. */
export function writeTinyLlama(dir: string, opts: { layers?: number; hidden?: number; seed?: number } = {}): TinyModel {
  const layers = opts.layers ?? 2;
  const hidden = opts.hidden ?? 32;
  const heads = 4;
  const kvHeads = 2;
  const headDim = hidden / heads;
  const inter = 2 * hidden;
  const vocab = 8192; // the default model's tokenizer
  let state = opts.seed ?? 7;
  const rand = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const noise = (shape: number[]) => ({ shape, data: Float32Array.from({ length: shape[0] * (shape[1] ?? 1) }, () => (rand() - 0.5) * 0.07) });
  const ones = (n: number) => ({ shape: [n], data: new Float32Array(n).fill(1) });
  tensors.set('model.embed_tokens.weight', noise([vocab, hidden]));
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    tensors.set(`${p}.self_attn.q_proj.weight`, noise([heads * headDim, hidden]));
    tensors.set(`${p}.self_attn.k_proj.weight`, noise([kvHeads * headDim, hidden]));
    tensors.set(`${p}.self_attn.v_proj.weight`, noise([kvHeads * headDim, hidden]));
    tensors.set(`${p}.self_attn.o_proj.weight`, noise([hidden, heads * headDim]));
    tensors.set(`${p}.mlp.gate_proj.weight`, noise([inter, hidden]));
    tensors.set(`${p}.mlp.up_proj.weight`, noise([inter, hidden]));
    tensors.set(`${p}.mlp.down_proj.weight`, noise([hidden, inter]));
    tensors.set(`${p}.input_layernorm.weight`, ones(hidden));
    tensors.set(`${p}.post_attention_layernorm.weight`, ones(hidden));
  }
  tensors.set('model.norm.weight', ones(hidden));
  const config = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu', hidden_size: hidden, intermediate_size: inter,
    num_attention_heads: heads, num_key_value_heads: kvHeads, head_dim: headDim, num_hidden_layers: layers, vocab_size: vocab,
    max_position_embeddings: 512, rms_norm_eps: 1e-5, rope_parameters: { rope_theta: 10000, rope_type: 'default' },
    tie_word_embeddings: true, attention_bias: false, mlp_bias: false, bos_token_id: 0, eos_token_id: 0,
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const bytes = writeSafetensors(tensors);
  writeFileSync(join(dir, 'model.safetensors'), bytes);
  copyFileSync('public/models/lemo-tiny/tokenizer.json', join(dir, 'tokenizer.json'));
  copyFileSync('public/models/lemo-tiny/tokenizer_config.json', join(dir, 'tokenizer_config.json'));
  const parameters = [...tensors.values()].reduce((a, t) => a + t.data.length, 0);
  return { dir, parameters, weightsFileBytes: bytes.byteLength, vocab, layers };
}

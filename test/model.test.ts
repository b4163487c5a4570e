import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../src/engine/model/safetensors';
import { checkContext, contextReach, parseConfig } from '../src/engine/model/config';
import { loadModel } from '../src/engine/model/model';
import { UserError } from '../src/engine/errors';

const DT = 'test/fixtures/golden/dtypes';

describe('safetensors', () => {
  it('decodes f32, f16 and bf16 exactly as torch upcasts them', () => {
    const t = readSafetensors(new Uint8Array(readFileSync(`${DT}/values.safetensors`)));
    const expected = JSON.parse(readFileSync(`${DT}/expected.json`, 'utf8'));
    for (const name of ['x_f32', 'x_f16', 'x_bf16']) {
      const got = Array.from(t.get(name)!.data);
      const want = (expected[name] as number[][]).flat();
      expect(got.map((v) => Object.is(v, -0) ? '-0' : v), name).toEqual(want.map((v) => Object.is(v, -0) ? '-0' : Math.fround(v)));
    }
  });

  it('round-trips what it writes', () => {
    const data = Float32Array.from({ length: 6 }, (_, i) => i * 0.5 - 1);
    const bytes = writeSafetensors(new Map([['b.w', { shape: [2, 3], data }], ['a.w', { shape: [1], data: Float32Array.of(7) }]]));
    const back = readSafetensors(bytes);
    expect([...back.keys()]).toEqual(['a.w', 'b.w']);
    expect(Array.from(back.get('b.w')!.data)).toEqual(Array.from(data));
    expect((8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))) % 8).toBe(0);
  });

  it('refuses a truncated file and a header that lies about offsets, with a sentence', () => {
    const good = writeSafetensors(new Map([['w', { shape: [4], data: new Float32Array(4) }]]));
    expect(() => readSafetensors(good.subarray(0, good.length - 3))).toThrow(/ends at byte 16 of the data but the file holds only 13 bytes/);
    expect(() => readSafetensors(good.subarray(0, 5))).toThrow(UserError);
    const lying = new Uint8Array(good);
    const text = new TextDecoder().decode(lying);
    const patched = new TextEncoder().encode(text.replace('[0,16]', '[0,99]'));
    expect(() => readSafetensors(patched)).toThrow(/offsets 0\.\.99 span 99/);
  });
});

describe('config.json', () => {
  it('refuses an unsupported architecture, naming it and what is supported', () => {
    expect(() => parseConfig({ model_type: 'bert', architectures: ['BertForMaskedLM'] })).toThrow(
      /model_type "bert", BertForMaskedLM\) is not supported\. Supported: LlamaForCausalLM.*GPT2LMHeadModel/,
    );
  });

  it('refuses RoPE scalings other than linear, Llama 3 and YaRN', () => {
    const cfg = JSON.parse(readFileSync('test/fixtures/golden/llama-gqa/model/config.json', 'utf8'));
    expect(() => parseConfig({ ...cfg, rope_scaling: { rope_type: 'longrope', factor: 4 } })).toThrow('RoPE scaling "longrope" is not supported; only linear position scaling, Llama 3\'s ("llama3") and YaRN ("yarn") are.');
    expect(() => parseConfig({ ...cfg, rope_scaling: { type: 'dynamic', factor: 4 } })).toThrow(/"dynamic" is not supported/);
  });

  it('reads Llama 3 RoPE scaling from rope_parameters and from an older rope_scaling, and refuses it incomplete or out of range', () => {
    const llama3 = JSON.parse(readFileSync('test/fixtures/golden/llama3-rope/model/config.json', 'utf8'));
    const scaling = { factor: 4, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 32 };
    expect(parseConfig(llama3).rope).toEqual({ theta: 100, linearFactor: 1, llama3: scaling });
    const { rope_parameters: rp, ...rest } = llama3;
    const { rope_theta, ...older } = rp;
    // Llama 3.1's own config.json: rope_theta at the top, rope_scaling beside it.
    expect(parseConfig({ ...rest, rope_theta, rope_scaling: older }).rope).toEqual({ theta: 100, linearFactor: 1, llama3: scaling });
    expect(contextReach(parseConfig(llama3))).toBe(128);
    // Without original_max_position_embeddings, transformers takes max_position_embeddings.
    const { original_max_position_embeddings: _o, ...noOriginal } = rp;
    expect(parseConfig({ ...llama3, rope_parameters: noOriginal }).rope?.llama3?.originalMaxPositions).toBe(128);
    const { low_freq_factor: _, ...incomplete } = rp;
    expect(() => parseConfig({ ...llama3, rope_parameters: incomplete })).toThrow(`config.json's rope_parameters has rope_type "llama3" but no low_freq_factor: copy the config.json that came with the model.`);
    expect(() => parseConfig({ ...llama3, rope_parameters: { ...rp, high_freq_factor: 1 } })).toThrow(/needs 0 < low_freq_factor < high_freq_factor/);
    expect(() => parseConfig({ ...llama3, rope_parameters: { ...rp, factor: 0.5 } })).toThrow(/rope_parameters\.factor is 0\.5, but Llama 3 RoPE scaling needs a factor from 1 to 1024/);
    expect(() => parseConfig({ ...llama3, rope_parameters: { ...rp, original_max_position_embeddings: 31.5 } })).toThrow(/original_max_position_embeddings is 31\.5, but it must be a positive integer/);
    expect(() => checkContext(parseConfig(llama3), 200)).toThrow('A context of 200 tokens is longer than this model reaches: 128 tokens (with its Llama 3 RoPE scaling); use a context of at most 128 tokens.');
  });

  it('reads YaRN RoPE scaling with transformers\' defaults, reaches original × factor, and refuses it out of range', () => {
    const yarn = JSON.parse(readFileSync('test/fixtures/golden/llama-yarn/model/config.json', 'utf8'));
    const rp = yarn.rope_parameters;
    const cfg = parseConfig(yarn);
    expect(cfg.rope).toEqual({ theta: 100, linearFactor: 1, yarn: { factor: 4, originalMaxPositions: 32, betaFast: 32, betaSlow: 1, truncate: true, attentionFactor: 0.1 * Math.log(4) + 1 } });
    expect(contextReach({ ...cfg, maxPositions: 64 })).toBe(128);
    // Qwen2.5's long-context config: the factor over the positions it was trained with.
    expect(contextReach(parseConfig({ ...yarn, max_position_embeddings: 32768, rope_parameters: { ...rp, factor: 4, original_max_position_embeddings: 32768 } }))).toBe(131072);
    // DeepSeek's: mscale and mscale_all_dim set the attention factor; no factor means max / original.
    const deep = parseConfig({ ...yarn, rope_parameters: { rope_type: 'yarn', original_max_position_embeddings: 32, rope_theta: 100, mscale: 2, mscale_all_dim: 1 } }).rope?.yarn;
    expect(deep?.factor).toBe(4);
    expect(deep?.attentionFactor).toBeCloseTo((0.2 * Math.log(4) + 1) / (0.1 * Math.log(4) + 1), 12);
    expect(() => parseConfig({ ...yarn, rope_parameters: { ...rp, factor: -1 } })).toThrow(/rope_parameters\.factor is -1, but YaRN RoPE scaling needs a positive factor up to 1024/);
    expect(() => parseConfig({ ...yarn, rope_parameters: { ...rp, attention_factor: 0 } })).toThrow(/attention_factor is 0, but it must be a positive number/);
    expect(() => loadModel({ config: yarn, weights: new Uint8Array(readFileSync('test/fixtures/golden/llama-yarn/model/model.safetensors')) }, 2)).toThrow(/rope_type "yarn" in config\.json\) and reaches 128 tokens/);
  });

  it('refuses a linear --rope-scale on top of Llama 3 RoPE scaling', () => {
    const dir = 'test/fixtures/golden/llama3-rope/model';
    const files = { config: JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')), weights: new Uint8Array(readFileSync(`${dir}/model.safetensors`)) };
    expect(() => loadModel(files, 2)).toThrow(/^This model already scales its RoPE \(rope_type "llama3" in config\.json\) and reaches 128 tokens; a linear RoPE scale \(--rope-scale\) cannot be added to it: leave --rope-scale out\.$/);
    expect(loadModel(files, 1).config.rope?.llama3).toBeDefined();
  });

  it('reads linear RoPE scaling and tied embeddings as transformers writes them', () => {
    const cfg = parseConfig(JSON.parse(readFileSync('test/fixtures/golden/llama-tied-scaled-mlp/model/config.json', 'utf8')));
    expect(cfg.rope).toEqual({ theta: 500000, linearFactor: 2 });
    expect(cfg.tiedEmbeddings).toBe(true);
    expect(cfg.kvHeads).toBeLessThan(cfg.heads);
  });

  it('refuses a RoPE factor, rope_theta or norm epsilon out of range, with the field', () => {
    const cfg = JSON.parse(readFileSync('test/fixtures/golden/llama-gqa/model/config.json', 'utf8'));
    const gpt2 = JSON.parse(readFileSync('test/fixtures/golden/gpt2/model/config.json', 'utf8'));
    const linear = (factor: number) => ({ ...cfg, rope_scaling: { rope_type: 'linear', factor } });
    for (const factor of [0, -2, 1e308, 2000]) {
      expect(() => parseConfig(linear(factor)), String(factor)).toThrow(new RegExp(`rope_scaling\\.factor\\) is ${String(factor).replace('+', '\\+')}, but a linear RoPE scale must be a positive number up to 1024`));
    }
    expect(() => parseConfig({ ...cfg, rope_parameters: { rope_type: 'linear', factor: 0, rope_theta: 10000 } })).toThrow(/rope_parameters\.factor\) is 0/);
    expect(parseConfig(linear(4)).rope).toEqual({ theta: cfg.rope_parameters?.rope_theta ?? cfg.rope_theta ?? 10000, linearFactor: 4 });
    expect(() => parseConfig({ ...cfg, rope_parameters: { rope_type: 'default', rope_theta: 0 } })).toThrow(/rope_theta 0, but the RoPE base must be a positive number/);
    expect(() => parseConfig({ ...cfg, rope_parameters: { rope_type: 'default', rope_theta: -10000 } })).toThrow(/rope_theta -10000/);
    expect(() => parseConfig({ ...cfg, rope_parameters: undefined, rope_theta: -1 })).toThrow(/rope_theta/);
    expect(() => parseConfig({ ...cfg, rms_norm_eps: 1e300 })).toThrow('config.json has rms_norm_eps 1e+300, but it must be a small positive number (at most 0.1; models use about 1e-5 or 1e-6).');
    expect(() => parseConfig({ ...cfg, rms_norm_eps: 0 })).toThrow(/rms_norm_eps/);
    expect(() => parseConfig({ ...gpt2, layer_norm_epsilon: 5 })).toThrow(/layer_norm_epsilon 5, but it must be a small positive number/);
    expect(parseConfig({ ...cfg, rms_norm_eps: 1e-6 }).normEps).toBe(1e-6);
  });

  it('takes a Mistral sliding window only for contexts within it, where it changes nothing', () => {
    const cfg = JSON.parse(readFileSync('test/fixtures/golden/llama-gqa/model/config.json', 'utf8'));
    const mistral = parseConfig({ ...cfg, model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: 64 });
    expect(contextReach(mistral)).toBe(64);
    expect(() => checkContext(mistral, 64)).not.toThrow();
    expect(() => checkContext(mistral, 65)).toThrow(
      "A context of 65 tokens is longer than this model's sliding attention window of 64 tokens (sliding_window in config.json), and sliding-window attention is not supported here: use a context of at most 64 tokens.",
    );
    // No window, or a Qwen2 window that is switched off, limits nothing.
    expect(contextReach(parseConfig({ ...cfg, model_type: 'mistral', sliding_window: null }))).toBe(cfg.max_position_embeddings);
    expect(contextReach(parseConfig({ ...cfg, model_type: 'qwen2', sliding_window: 64, use_sliding_window: false }))).toBe(cfg.max_position_embeddings);
  });

  it('names the missing tensor when the weights do not fit the config', () => {
    const config = JSON.parse(readFileSync('test/fixtures/golden/llama-gqa/model/config.json', 'utf8'));
    const weights = new Uint8Array(readFileSync('test/fixtures/golden/llama-gqa/model/model.safetensors'));
    expect(() => loadModel({ config: { ...config, num_hidden_layers: 3 }, weights })).toThrow(/no tensor model\.layers\.2\./);
    expect(() => loadModel({ config: { ...config, num_hidden_layers: 1 }, weights })).toThrow(
      "model.safetensors holds 2 layers but config.json's num_hidden_layers is 1: set num_hidden_layers to 2, or use the config.json that came with these weights.",
    );
    const gpt2 = JSON.parse(readFileSync('test/fixtures/golden/gpt2/model/config.json', 'utf8'));
    const gpt2Weights = new Uint8Array(readFileSync('test/fixtures/golden/gpt2/model/model.safetensors'));
    expect(() => loadModel({ config: { ...gpt2, n_layer: gpt2.n_layer - 1 }, weights: gpt2Weights })).toThrow(`holds ${gpt2.n_layer} layers but config.json's n_layer is ${gpt2.n_layer - 1}`);
    expect(loadModel({ config: gpt2, weights: gpt2Weights }).layers).toHaveLength(gpt2.n_layer);
    expect(() => loadModel({ config: { ...config, intermediate_size: 65 }, weights })).toThrow(/has shape \[64,32\] but config\.json implies \[65,32\]/);
  });
});

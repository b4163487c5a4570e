import { describe, expect, it } from 'vitest';
import { modelFolder, shardFiles } from './model-folder';

const file = (path: string) => {
  const name = path.split('/').pop()!;
  const f = new File(['x'], name);
  if (path !== name) Object.defineProperty(f, 'webkitRelativePath', { value: path });
  return f;
};

describe('a model folder from the files the page received', () => {
  it('finds each file of a picked folder by name, top level first, and names the folder', () => {
    const r = modelFolder(['m/config.json', 'm/model.safetensors', 'm/tokenizer.json', 'm/old/tokenizer.json', 'm/predictors.safetensors'].map(file));
    expect(typeof r).toBe('object');
    if (typeof r === 'string') return;
    expect(r.name).toBe('m');
    expect(r.tokenizer.webkitRelativePath).toBe('m/tokenizer.json');
    expect(r.predictors?.name).toBe('predictors.safetensors');
    expect(r.tokenizerConfig).toBeNull();
    expect(r.policy).toBeNull();
  });

  it('takes the folder\'s policy.json, its default keep policy, when it has one', () => {
    const r = modelFolder(['m/config.json', 'm/model.safetensors', 'm/tokenizer.json', 'm/policy.json'].map(file));
    expect(typeof r === 'object' && r.policy?.name).toBe('policy.json');
  });

  it('says which files are missing, and what to do about a PyTorch checkpoint', () => {
    expect(modelFolder(['gpt/config.json', 'gpt/pytorch_model.bin'].map(file))).toBe(
      'gpt is not a model folder: model.safetensors, tokenizer.json are missing. A model folder holds config.json, model.safetensors (or model.safetensors.index.json and the shards it names) and tokenizer.json.'
      + ' It has pytorch_model.bin: save the model as safetensors first (save_pretrained(..., safe_serialization=True)).',
    );
    expect(modelFolder([file('config.json'), file('model.safetensors')], 'the dropped files')).toMatch(/^the dropped files is not a model folder: tokenizer.json is missing\./);
    expect(modelFolder([])).toMatch(/^The folder is empty/);
  });

  it('takes model.safetensors.index.json in place of model.safetensors, with the shards it names, and names a missing shard', () => {
    const names = ['m/config.json', 'm/tokenizer.json', 'm/model.safetensors.index.json', 'm/model-00001-of-00002.safetensors', 'm/model-00002-of-00002.safetensors'];
    const r = modelFolder(names.map(file));
    if (typeof r === 'string') throw new Error(r);
    expect(r.weights).toBeNull();
    expect(r.index?.name).toBe('model.safetensors.index.json');
    const index = { weight_map: { a: 'model-00002-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' } };
    const shards = shardFiles(r, index);
    expect(typeof shards !== 'string' && shards.map((f) => f.name)).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const short = modelFolder(names.slice(0, 4).map(file));
    if (typeof short === 'string') throw new Error(short);
    expect(shardFiles(short, index)).toBe('model.safetensors.index.json names model-00002-of-00002.safetensors, which is not in m: add every shard the index names.');
    expect(shardFiles(short, { weight_map: 3 })).toMatch(/^model\.safetensors\.index\.json has no weight_map object/);
    // model.safetensors wins over an index beside it.
    const both = modelFolder([...names, 'm/model.safetensors'].map(file));
    expect(typeof both === 'object' && both.weights?.name).toBe('model.safetensors');
    expect(typeof both === 'object' && both.index).toBeNull();
  });
});

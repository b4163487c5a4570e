import { describe, expect, it } from 'vitest';
import { modelFolder } from './model-folder';

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
      'gpt is not a model folder: model.safetensors, tokenizer.json are missing. A model folder holds config.json, model.safetensors and tokenizer.json.'
      + ' It has pytorch_model.bin: save the model as safetensors first (save_pretrained(..., safe_serialization=True)).',
    );
    expect(modelFolder([file('config.json'), file('model.safetensors')], 'the dropped files')).toMatch(/^the dropped files is not a model folder: tokenizer.json is missing\./);
    expect(modelFolder([])).toMatch(/^The folder is empty/);
  });
});

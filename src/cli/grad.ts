import { readSafetensors, writeSafetensors } from '../engine/model/safetensors';
import { loadModel } from '../engine/model/model';
import { DEFAULT_TARGETS, loraConfig, parseAdapterConfig } from '../engine/model/lora';
import { nodeRuntime } from './session';
import { sparsityWithPredictors } from './sparsity-options';
import { Trainer } from '../engine/train/trainer';
import { UserError } from '../engine/errors';
import { readAdapterDir, readJson, readModelDir, writeFile } from './files';

interface GradOptions {
  model: string;
  adapter?: string;
  tokens: string;
  out: string;
  loraR: string;
  loraAlpha: string;
  targetModules?: string;
  seed: string;
  threads: string;
  backend: string;
  sparsity: string;
  keep?: string;
  block?: string;
  policy?: string;
  predictors?: string;
}

export function readTokens(path: string): number[][] {
  const json = readJson(path, 'tokens file') as { input_ids?: unknown };
  const ids = json?.input_ids;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((s) => Array.isArray(s) && s.every((x) => Number.isInteger(x)))) {
    throw new UserError(`${path} must hold {"input_ids": [[int, ...], ...]} with at least one sequence.`);
  }
  return ids as number[][];
}

export async function gradCommand(o: GradOptions): Promise<void> {
  const model = loadModel(readModelDir(o.model));
  let lora;
  let adapter;
  if (o.adapter) {
    const a = readAdapterDir(o.adapter);
    lora = parseAdapterConfig(a.config);
    adapter = readSafetensors(a.weights, 'adapter_model.safetensors');
  } else {
    const targets = o.targetModules ? o.targetModules.split(',').map((s) => s.trim()) : DEFAULT_TARGETS[model.config.family];
    lora = loraConfig(Number(o.loraR), Number(o.loraAlpha), targets);
  }
  const ids = readTokens(o.tokens);
  const rt = await nodeRuntime(o);
  const trainer = await Trainer.create(rt, model, lora, { seed: Number(o.seed), adapter });
  trainer.setSparsity(await sparsityWithPredictors(o, o.sparsity, model.config, ids[0]?.length ?? 0, rt, o.model));
  const { loss, tokens, grads } = await trainer.lossAndGrads(ids);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const p of trainer.params) {
    out.set(p.peft, { shape: [...p.shape], data: Float32Array.from((await rt.read(grads.get(p.peft)!)) as Float32Array) });
  }
  writeFile(o.out, writeSafetensors(out));
  const kept = trainer.lastSelection?.kept;
  process.stdout.write(`${JSON.stringify({ loss, tokens, ...(kept ? { kept } : {}) })}\n`);
}

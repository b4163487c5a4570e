// lemo train: a dense LoRA fine-tune from a dataset file; the adapter is written in PEFT's format.
import { join } from 'node:path';
import { DEFAULT_SETTINGS } from '../engine/session';
import { ensureDir, writeFile } from './files';
import { int, num, openSession, readDataset } from './session';
import { copiedFiles, writeFolder } from './export';

export interface TrainOptions {
  model: string;
  data: string;
  ctx: string;
  steps: string;
  out: string;
  lr: string;
  loraR: string;
  loraAlpha: string;
  targetModules?: string;
  ropeScale?: string;
  mergedOut?: string;
  seed: string;
  batch: string;
  threads: string;
  backend: string;
}

export async function trainCommand(o: TrainOptions): Promise<void> {
  const started = Date.now();
  const { session, name } = await openSession(o.model, o, {
    ropeScale: num(o.ropeScale, 'rope-scale'),
    onEvent: (e) => {
      if (e.type === 'step') {
        process.stderr.write(`step ${e.step}/${e.totalSteps}  loss ${e.loss.toFixed(4)}  ${Math.round(e.tokensPerSecond)} tok/s  ${Math.round(e.ms)} ms\n`);
      } else if (e.type === 'dataset') {
        process.stderr.write(`dataset: ${e.summary.documents} documents, ${e.summary.tokens} tokens, ${e.summary.windows} windows of ${e.summary.ctx}\n`);
      }
    },
  });
  const docs = readDataset(o.data);
  const settings = {
    ...DEFAULT_SETTINGS,
    ctx: int(o.ctx, 'ctx', 2),
    steps: int(o.steps, 'steps'),
    batch: int(o.batch, 'batch'),
    lr: num(o.lr, 'lr')!,
    loraR: int(o.loraR, 'lora-r'),
    loraAlpha: num(o.loraAlpha, 'lora-alpha')!,
    targetModules: o.targetModules ? o.targetModules.split(',').map((s) => s.trim()) : [],
    seed: int(o.seed, 'seed', 0),
  };
  const result = await session.train(docs, settings);
  const adapter = await session.exportAdapter(name);
  ensureDir(o.out);
  writeFile(join(o.out, 'adapter_config.json'), adapter.config);
  writeFile(join(o.out, 'adapter_model.safetensors'), adapter.weights);
  if (o.mergedOut) {
    const merged = (await session.exportFolder('merged', name)).filter((f) => f.name === 'config.json' || f.name === 'model.safetensors');
    writeFolder(o.mergedOut, [...merged, ...copiedFiles(o.model)]);
  }
  process.stdout.write(`${JSON.stringify({ steps: result.steps, loss: result.lastLoss, seconds: (Date.now() - started) / 1000, out: o.out })}\n`);
}

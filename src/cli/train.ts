// lemo train: a LoRA fine-tune from a dataset file (dense, oracle or lemo); the adapter is written in PEFT's format.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SETTINGS, UserError, type TrainSettings } from '../engine/node';
import { ensureDir, writeFile } from './files';
import { DEFAULT_DATA_FILE, DEFAULT_MODEL_DIR, int, num, openSession, readDataset } from './session';
import { checkpointDir, readCheckpointDir } from './checkpoint-dir';
import { copiedFiles, writeFolder } from './export';
import { loadPredictors, policySettings, type SparsityFlags } from './sparsity-options';

export interface TrainOptions extends SparsityFlags {
  recallEvery?: string;
  model?: string;
  data?: string;
  ctx?: string;
  steps?: string;
  checkpointDir?: string;
  checkpointEvery?: string;
  resume?: string;
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

/** modeDefaulted: --sparsity was not given, so a model folder without predictors trains with the oracle. */
export async function trainCommand(o: TrainOptions, modeDefaulted = false): Promise<void> {
  const started = Date.now();
  const resumed = o.resume ? readCheckpointDir(o.resume) : null;
  const files = { data: o.data ?? resumed?.files.data ?? DEFAULT_DATA_FILE, model: o.model ?? resumed?.files.model ?? DEFAULT_MODEL_DIR, ropeScale: o.ropeScale !== undefined ? num(o.ropeScale, 'rope-scale') : resumed?.files.ropeScale };
  const { session, name, summary } = await openSession(files.model, o, {
    ropeScale: files.ropeScale,
    policy: true,
    onEvent: (e) => {
      if (e.type === 'step') {
        process.stderr.write(`step ${e.step}/${e.totalSteps}  loss ${e.loss.toFixed(4)}  ${Math.round(e.tokensPerSecond)} tok/s  ${Math.round(e.ms)} ms\n`);
      } else if (e.type === 'dataset') {
        process.stderr.write(`dataset: ${e.summary.documents} documents, ${e.summary.tokens} tokens, ${e.summary.windows} windows of ${e.summary.ctx}\n`);
      } else if (e.type === 'skipped') {
        process.stderr.write(`${e.message}\n`);
      } else if (e.type === 'checkpoint') {
        process.stderr.write(`checkpoint after step ${e.step}: ${e.bytes} bytes in ${Math.round(e.ms)} ms\n`);
      } else if (e.type === 'resumed') {
        process.stderr.write(`resuming after step ${e.step}\n`);
      }
    },
  });
  const docs = readDataset(files.data);
  const sparsity = (o.sparsity ?? DEFAULT_SETTINGS.sparsity) as TrainSettings['sparsity'];
  const policy = resumed || sparsity === 'dense' ? null : policySettings(o, { dir: files.model, policy: summary.policy }, summary.layers);
  const settings: TrainSettings = resumed ? { ...resumed.checkpoint.run.settings, steps: o.steps ? int(o.steps, 'steps') : resumed.checkpoint.run.settings.steps } : {
    ...DEFAULT_SETTINGS,
    ctx: int(o.ctx ?? String(DEFAULT_SETTINGS.ctx), 'ctx', 2),
    steps: int(o.steps ?? String(DEFAULT_SETTINGS.steps), 'steps'),
    batch: int(o.batch, 'batch'),
    lr: num(o.lr, 'lr')!,
    loraR: int(o.loraR, 'lora-r'),
    loraAlpha: num(o.loraAlpha, 'lora-alpha')!,
    targetModules: o.targetModules ? o.targetModules.split(',').map((s) => s.trim()) : [],
    seed: int(o.seed, 'seed', 0),
    sparsity,
    block: policy?.block ?? int(o.block ?? String(DEFAULT_SETTINGS.block), 'block'),
    policy: policy?.policy ?? null,
    mlpKeep: policy?.mlpKeep ?? num(o.mlpKeep, 'mlp-keep') ?? null,
    recallEvery: o.recallEvery ? int(o.recallEvery, 'recall-every', 0) : 0,
  };
  if (settings.sparsity === 'lemo' && modeDefaulted && !o.predictors && !existsSync(join(files.model, 'predictors.safetensors'))) {
    settings.sparsity = 'oracle';
    process.stderr.write(`${files.model} has no predictors.safetensors: training with the oracle's block scores (--sparsity oracle).\n`);
  }
  if (settings.sparsity === 'lemo') {
    const { path, summary: p } = loadPredictors(o, files.model, session);
    process.stderr.write(`predictors: ${path} (${p.parameters} parameters, block ${p.block})\n`);
  }
  if (o.checkpointEvery !== undefined) settings.checkpointEvery = int(o.checkpointEvery, 'checkpoint-every');
  const dir = o.checkpointDir ?? o.resume;
  const save = dir ? checkpointDir(dir, files) : undefined;
  const result = await session.train(docs, settings, undefined, { resume: resumed?.checkpoint, onCheckpoint: save });
  const adapter = await session.exportAdapter(name);
  ensureDir(o.out);
  writeFile(join(o.out, 'adapter_config.json'), adapter.config);
  writeFile(join(o.out, 'adapter_model.safetensors'), adapter.weights);
  if (o.mergedOut) {
    const merged = (await session.exportFolder('merged', name)).filter((f) => f.name === 'config.json' || f.name === 'model.safetensors');
    writeFolder(o.mergedOut, [...merged, ...copiedFiles(files.model)]);
  }
  process.stdout.write(`${JSON.stringify({ steps: result.steps, loss: result.lastLoss, seconds: (Date.now() - started) / 1000, out: o.out })}\n`);
}

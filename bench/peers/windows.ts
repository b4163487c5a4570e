// The token windows every peer trains on: for each context length, the first window the engine's
// benchmark draws (the default training set tokenized by the model's tokenizer.json, windows of
// ctx tokens, WindowSampler with seed 0), and the engine's mean next-token loss on it with a
// fresh adapter (B = 0, so the base model's loss) under linear RoPE scale ctx/1024.
//   npx tsx bench/peers/windows.ts 1024,2048,4096 /tmp/peers/windows.json
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_DATA_FILE, DEFAULT_MODEL_DIR, openSession, readDataset } from '../../src/cli/session';
import { WindowSampler, windows } from '../../src/engine/train/data';
import { Trainer } from '../../src/engine/train/trainer';
import { loadModel } from '../../src/engine/model/model';
import { readModelDir } from '../../src/cli/files';
import { DEFAULT_TARGETS, loraConfig } from '../../src/engine/model/lora';

const ctxs = (process.argv[2] ?? '1024,2048,4096').split(',').map(Number);
const out = process.argv[3] ?? '/tmp/peers/windows.json';
const { session } = await openSession(DEFAULT_MODEL_DIR, { threads: '2', backend: 'node' });
const docs = session.tokenize(readDataset(DEFAULT_DATA_FILE));
const rows: { ctx: number; ropeScale: number; ids: number[]; engineLoss: number }[] = [];
for (const ctx of ctxs) {
  const ids = new WindowSampler(windows(docs, ctx), 0).next(1)[0];
  const ropeScale = ctx / 1024;
  const model = loadModel(readModelDir(DEFAULT_MODEL_DIR));
  if (ropeScale !== 1) model.config.rope!.linearFactor = ropeScale;
  const trainer = await Trainer.create(session.rt, model, loraConfig(8, 16, DEFAULT_TARGETS.llama), { seed: 0 });
  const { nll, tokens } = await trainer.nll([ids]);
  trainer.dispose();
  rows.push({ ctx, ropeScale, ids, engineLoss: nll / tokens });
  process.stderr.write(`window ${ctx}: engine loss ${(nll / tokens).toFixed(6)}\n`);
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ model: DEFAULT_MODEL_DIR, data: DEFAULT_DATA_FILE, windows: rows }));

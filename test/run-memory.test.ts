// Runs one after another on one engine (as the studio's worker does, one session per tab): each
// run holds its own adapter and optimizer state only; what a finished run held is freed when the
// next one starts, so the memory figures and the dense baseline are the same run to run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, EngineSession, type TrainSettings } from '../src/engine/session';
import type { BaselineEvent, EngineEvent, MemoryEvent } from '../src/engine/events';
import { decodeDataset, parseDataset } from '../src/engine/train/data';
import { readSafetensors } from '../src/engine/model/safetensors';
import { readJson, readModelDir } from '../src/cli/files';
import { nodeRuntime } from './helpers/runtime';

const MODEL = 'public/models/lemo-tiny';
const DATA = 'public/data/books-short/train.jsonl.gz';
const docs = parseDataset('train.jsonl.gz', decodeDataset('train.jsonl.gz', readFileSync(DATA))).slice(0, 2);
const settings: TrainSettings = { ...DEFAULT_SETTINGS, sparsity: 'oracle', ctx: 64, block: 16, steps: 2, checkpointEvery: 0, seed: 1 };

const folder = () => ({ ...readModelDir(MODEL), tokenizer: readJson(join(MODEL, 'tokenizer.json'), 'tokenizer.json'), tokenizerConfig: readJson(join(MODEL, 'tokenizer_config.json'), 'tokenizer_config.json') });

interface RunFigures {
  peak: MemoryEvent['peakSplit'];
  baseline: number;
  liveAfter: MemoryEvent['peakSplit'];
}

/** One run's last memory event, its dense baseline and what the accountant holds after it. */
async function run(s: EngineSession, events: EngineEvent[], live: () => MemoryEvent['peakSplit']): Promise<RunFigures> {
  events.length = 0;
  await s.train(docs, settings);
  const memory = events.filter((e): e is MemoryEvent => e.type === 'memory').at(-1)!;
  const baseline = events.find((e): e is BaselineEvent => e.type === 'baseline')!;
  return { peak: memory.peakSplit, baseline: baseline.peakTotal, liveAfter: { ...live() } };
}

describe('runs one after another in one engine', () => {
  it('count one adapter and one optimizer state each: the memory figures and the dense baseline repeat run to run', async () => {
    const rt = await nodeRuntime();
    const events: EngineEvent[] = [];
    const s = new EngineSession(rt, (e) => events.push(e));
    s.loadModel(folder());
    const runs: RunFigures[] = [];
    for (let i = 0; i < 3; i++) runs.push(await run(s, events, () => rt.memory.live));
    // One run's LoRA factors (float32, as exported) and AdamW's two moments of each.
    const exported = readSafetensors((await s.exportAdapter('lemo-tiny')).weights);
    const adapterBytes = 4 * [...exported.values()].reduce((n, t) => n + t.data.length, 0);
    expect(runs[0].peak.adapter).toBe(adapterBytes);
    expect(runs[0].peak.optimizer).toBe(2 * adapterBytes);
    for (const r of runs.slice(1)) {
      expect(r.peak.adapter).toBe(adapterBytes);
      expect(r.peak.optimizer).toBe(runs[0].peak.optimizer);
      expect(r.peak.weights).toBe(runs[0].peak.weights);
      expect(r.baseline).toBe(runs[0].baseline);
      expect(r.liveAfter).toEqual(runs[0].liveAfter);
    }
  });

  it('a model loaded again, gradients and evaluations leave nothing behind', async () => {
    const rt = await nodeRuntime();
    const events: EngineEvent[] = [];
    const s = new EngineSession(rt, (e) => events.push(e));
    s.loadModel(folder());
    const first = await run(s, events, () => rt.memory.live);
    s.loadModel(folder());
    const again = await run(s, events, () => rt.memory.live);
    expect(again.peak.weights).toBe(first.peak.weights);
    expect(again.baseline).toBe(first.baseline);
    expect(again.liveAfter).toEqual(first.liveAfter);
    const ids = [s.tokenize(docs)[0].slice(0, 32)];
    await s.grad(ids, undefined, { ...settings });
    await s.evaluate([{ ...docs[0], text: docs[0].text.slice(0, 1000) }], 32, await s.exportAdapter('lemo-tiny').then((a) => ({ config: JSON.parse(a.config), weights: a.weights })));
    expect({ ...rt.memory.live }).toEqual(first.liveAfter);
  });
});

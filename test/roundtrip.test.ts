// The exported adapter and merged model round-trip: the merged folder loaded by the engine
// itself gives the adapter's loss (always run), and transformers + PEFT reproduce the engine's
// held-out loss from the exported files within 1e-4 relative (tools/peft-roundtrip/roundtrip.py;
// run when python3 can import torch, transformers and peft, skipped with the reason otherwise).
import { DEFAULT_PATHS } from '../src/engine/settings';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeAdapter } from '../src/engine/export/merged';
import { loadModel } from '../src/engine/model/model';
import { DEFAULT_TARGETS, loraConfig } from '../src/engine/model/lora';
import { readSafetensors, readSafetensorsHeader } from '../src/engine/model/safetensors';
import { Trainer } from '../src/engine/train/trainer';
import { readFixture } from './helpers/fixtures';
import { nodeRuntime } from './helpers/runtime';

const GOLDEN = 'test/fixtures/golden';
const PY_CHECK = spawnSync('python3', ['-c', 'import torch, transformers, peft'], { encoding: 'utf8' });
const PYTHON = PY_CHECK.status === 0;
const WHY = PYTHON ? '' : ` (skipped: python3 cannot import torch, transformers and peft: ${(PY_CHECK.stderr || String(PY_CHECK.error ?? '')).trim().split('\n').at(-1)})`;

function lemo(args: string[]): string {
  const r = spawnSync(process.execPath, ['bin/lemo.js', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lemo ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

interface RoundTrip {
  ok: boolean;
  engine_loss: number;
  peft_loss: number;
  peft_rel_err: number;
  merged_loss?: number;
  merged_rel_err?: number;
  merged_weights_max_rel_err?: number;
  merged_weights_name_mismatch?: string[];
  tokens_agree?: boolean;
  tokens: number;
}

function roundtrip(args: string[]): RoundTrip {
  const r = spawnSync('python3', ['tools/peft-roundtrip/roundtrip.py', ...args], { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (!line.startsWith('{')) throw new Error(`roundtrip.py exited ${r.status}: ${r.stderr}`);
  const out = JSON.parse(line) as RoundTrip;
  console.log(`roundtrip ${args.join(' ')}: ${line}`);
  return out;
}

/** The engine's loss for ids, with a fixture's adapter on the base model or with the merged weights (B = 0). */
async function engineLoss(model: ReturnType<typeof loadModel>, ids: number[][], adapter?: { lora: ReturnType<typeof loraConfig>; tensors: ReturnType<typeof readSafetensors> }) {
  const rt = await nodeRuntime('wasm');
  const trainer = adapter
    ? await Trainer.create(rt, model, adapter.lora, { adapter: adapter.tensors })
    : await Trainer.create(rt, model, loraConfig(1, 1, DEFAULT_TARGETS[model.config.family]));
  const r = await trainer.nll(ids);
  trainer.dispose();
  return r.nll / r.tokens;
}

describe('merged model, in the engine', () => {
  // GPT-2's Conv1D (W stored [in, out], PEFT's fan_in_fan_out), Llama with MLP targets and a
  // RoPE-scaled config, and bfloat16 weights (written back as float32).
  for (const [name, modelDir] of [['gpt2-mlp', 'model'], ['llama-tied-scaled-mlp', 'model'], ['llama-gqa', 'model-bf16']] as const) {
    it(`${name}/${modelDir}: the merged weights give the adapter's loss`, async () => {
      const f = readFixture(join(GOLDEN, name), join(GOLDEN, name, modelDir));
      const files = { config: JSON.parse(readFileSync(join(GOLDEN, name, modelDir, 'config.json'), 'utf8')), weights: new Uint8Array(readFileSync(join(GOLDEN, name, modelDir, 'model.safetensors'))) };
      const out = mergeAdapter(files, f.lora, f.adapter);
      const config = JSON.parse(new TextDecoder().decode(out.find((x) => x.name === 'config.json')!.bytes));
      const weights = out.find((x) => x.name === 'model.safetensors')!.bytes;
      // Same tensor names as the original, every float tensor float32.
      const before = readSafetensorsHeader(files.weights).entries.map((e) => e.name).sort();
      const after = readSafetensorsHeader(weights).entries;
      expect(after.map((e) => e.name).sort()).toEqual(before);
      expect(new Set(after.map((e) => e.dtype))).toEqual(new Set(['F32']));
      expect(config.dtype).toBe('float32');
      const merged = loadModel({ config, weights });
      const withAdapter = await engineLoss(f.model, f.ids, { lora: f.lora, tensors: f.adapter });
      const base = await engineLoss(f.model, f.ids);
      const fromMerged = await engineLoss(merged, f.ids);
      // The adapter moves the loss; the merged model lands where the adapter does.
      expect(Math.abs(withAdapter - base) / base).toBeGreaterThan(1e-3);
      expect(Math.abs(fromMerged - withAdapter) / withAdapter).toBeLessThan(1e-5);
    });
  }

  it('refuses an adapter that belongs to another model', () => {
    const g = readFixture(join(GOLDEN, 'gpt2'));
    const llama = { config: JSON.parse(readFileSync(join(GOLDEN, 'llama-gqa/model/config.json'), 'utf8')), weights: new Uint8Array(readFileSync(join(GOLDEN, 'llama-gqa/model/model.safetensors'))) };
    expect(() => mergeAdapter(llama, g.lora, g.adapter)).toThrow(/target_modules match no module|belongs to another model/);
  });
});

describe(`round trip through transformers + PEFT, within 1e-4 relative${WHY}`, () => {
  it.skipIf(!PYTHON)('the default model: lemo train writes the adapter and the merged folder, lemo eval dumps its chunks; PEFT and transformers reproduce its held-out loss', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lemo-roundtrip-'));
    const data = 'test/fixtures/books-slice/slice.jsonl';
    lemo(['train', '--data', data, '--ctx', '128', '--steps', '4', '--lr', '5e-3', '--out', join(dir, 'adapter'), '--merged-out', join(dir, 'merged')]);
    lemo(['eval', '--data', data, '--ctx', '128', '--adapter', join(dir, 'adapter'), '--dump-ids', join(dir, 'ids.json')]);
    const r = roundtrip(['--model', join('public', DEFAULT_PATHS.model), '--adapter', join(dir, 'adapter'), '--merged', join(dir, 'merged'), '--ids', join(dir, 'ids.json'), '--data', data]);
    expect(r.tokens_agree).toBe(true);
    expect(r.tokens).toBeGreaterThan(2000);
    expect(r.peft_rel_err).toBeLessThan(1e-4);
    expect(r.merged_rel_err!).toBeLessThan(1e-4);
    expect(r.merged_weights_name_mismatch).toEqual([]);
    expect(r.merged_weights_max_rel_err!).toBeLessThan(1e-4);
    expect(r.ok).toBe(true);
    // The trained adapter is not a no-op: the base model's loss on the same chunks differs.
    const base = JSON.parse(lemo(['eval', '--data', data, '--ctx', '128'])).loss as number;
    expect(Math.abs(base - r.engine_loss) / base).toBeGreaterThan(1e-3);
  });

  for (const name of ['gpt2-mlp', 'llama-tied-scaled-mlp']) {
    it.skipIf(!PYTHON)(`${name}: lemo export's merged folder and the adapter reproduce the engine's loss`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'lemo-roundtrip-'));
      const f = readFixture(join(GOLDEN, name));
      lemo(['export', '--model', join(GOLDEN, name, 'model'), '--adapter', join(GOLDEN, name, 'adapter'), '--out', join(dir, 'merged')]);
      const loss = await engineLoss(f.model, f.ids, { lora: f.lora, tensors: f.adapter });
      writeFileSync(join(dir, 'ids.json'), JSON.stringify({ ctx: f.ids[0].length, rope_scale: null, loss, input_ids: f.ids }));
      const r = roundtrip(['--model', join(GOLDEN, name, 'model'), '--adapter', join(GOLDEN, name, 'adapter'), '--merged', join(dir, 'merged'), '--ids', join(dir, 'ids.json')]);
      expect(r.peft_rel_err).toBeLessThan(1e-4);
      expect(r.merged_rel_err!).toBeLessThan(1e-4);
      expect(r.merged_weights_name_mismatch).toEqual([]);
      expect(r.ok).toBe(true);
    });
  }
});

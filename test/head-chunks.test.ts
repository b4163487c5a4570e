// The LM head over vocabulary chunks: loss and every LoRA gradient (so dL/dh) with several
// chunks of uneven size equal those of one chunk over the whole vocabulary, dense and sparse,
// tied and untied; evaluation and generation's logits too. A tied head is the embedding itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Trainer, type TrainerOptions } from '../src/engine/train/trainer';
import { selectorFor } from '../src/engine/sparsity/selectors';
import { parseKeepSpec } from '../src/engine/sparsity/blocks';
import { decode } from '../src/engine/run/generate';
import { modelHostBytes } from '../src/engine/model/model';
import { Segments } from '../src/engine/train/segments';
import { parseConfig } from '../src/engine/model/config';
import { nodeRuntime, relErr } from './helpers/runtime';
import { readFixture } from './helpers/fixtures';

type Fixture = ReturnType<typeof readFixture>;

/** The golden fixture, or a sparse reference's (its model and adapter, and its keep sets). */
function fixture(name: string): { f: Fixture; keep: unknown } {
  if (!name.endsWith('-sparse')) return { f: readFixture(`test/fixtures/golden/${name}`), keep: null };
  const dir = join('test/fixtures/golden-sparse', name);
  const source = JSON.parse(readFileSync(join(dir, 'source.json'), 'utf8'));
  return { f: readFixture(dir, source.model, source.adapter), keep: JSON.parse(readFileSync(join(dir, 'keep.json'), 'utf8')) };
}

async function lossAndGrads(f: Fixture, keep: unknown, opts: TrainerOptions) {
  const rt = await nodeRuntime();
  const t = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter, ...opts });
  const L = f.model.config.layers;
  const selector = keep ? selectorFor({ mode: 'keep', spec: parseKeepSpec(keep as never, L, f.ids[0].length) }, L) : undefined;
  const r = await t.lossAndGrads(f.ids, selector);
  const grads = new Map<string, Float32Array>();
  for (const [k, g] of r.grads) grads.set(k, Float32Array.from((await rt.read(g)) as Float32Array));
  const chunks = t.headChunks();
  t.dispose();
  return { loss: r.loss, grads, chunks };
}

describe('the LM head over vocabulary chunks', () => {
  // 96 tokens in chunks of 33: 33, 33 and 30 rows.
  for (const name of ['llama-gqa', 'llama-tied-scaled-mlp', 'gpt2', 'qwen2-sparse', 'llama-tied-sparse']) {
    it(`three uneven chunks give one chunk's loss and LoRA gradients: ${name} (${name.includes('tied') || name === 'gpt2' ? 'tied' : 'untied'}${name.endsWith('-sparse') ? ', sparse' : ', dense'})`, async () => {
      const { f, keep } = fixture(name);
      expect(f.model.config.vocabSize).toBe(96);
      const one = await lossAndGrads(f, keep, {});
      expect(one.chunks).toEqual([[0, 96]]);
      for (const headRows of [null, 7]) {
        const three = await lossAndGrads(f, keep, { headChunkRows: 33, headRows });
        expect(three.chunks).toEqual([[0, 33], [33, 66], [66, 96]]);
        expect(Math.abs(three.loss - one.loss) / Math.abs(one.loss)).toBeLessThan(1e-6);
        expect([...three.grads.keys()].sort()).toEqual([...one.grads.keys()].sort());
        for (const [k, g] of one.grads) expect(relErr(three.grads.get(k)!, g), k).toBeLessThan(1e-6);
      }
    });
  }

  it('evaluation and generation read the logits chunk by chunk alike', async () => {
    const rt = await nodeRuntime();
    const { f } = fixture('llama-tied-scaled-mlp');
    const ids = f.ids[0].slice(0, 9);
    const run = async (headChunkRows: number | null) => {
      const t = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter, headChunkRows });
      const logits: Float32Array[] = [];
      await decode(t, ids.slice(0, 4), (l) => (logits.push(l), logits.length < 3 ? ids[3 + logits.length] : null), ids.length);
      const nll = (await t.nll([ids])).nll;
      t.dispose();
      return { logits, nll };
    };
    const one = await run(null);
    const four = await run(25);
    expect(Math.abs(four.nll - one.nll) / one.nll).toBeLessThan(1e-6);
    expect(four.logits.length).toBe(3);
    for (const [i, l] of one.logits.entries()) expect(relErr(four.logits[i], l)).toBeLessThan(1e-6);
  });

  it('holds a tied head once: the weights on the device are the file\'s parameters, no transposed copy', async () => {
    const rt = await nodeRuntime();
    for (const name of ['llama-tied-scaled-mlp', 'llama-gqa']) {
      const { f } = fixture(name);
      const before = rt.memory.live.weights;
      const t = await Trainer.create(rt, f.model, f.lora, { adapter: f.adapter });
      expect(rt.memory.live.weights - before).toBe(4 * f.model.parameterCount);
      expect(modelHostBytes(f.model)).toBe(4 * f.model.parameterCount);
      t.dispose();
    }
    const tied = fixture('llama-tied-scaled-mlp').f.model;
    expect(tied.lmHead).toBe(tied.embed);
  });

  it('keeps a small vocabulary in one chunk and cuts a large one into even chunks of at most 64 MiB', async () => {
    const rt = await nodeRuntime();
    const segs = (vocab_size: number, hidden_size: number) =>
      new Segments(rt, parseConfig({ model_type: 'qwen2', vocab_size, hidden_size, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2 }));
    expect(segs(8192, 256).headChunks()).toEqual([[0, 8192]]);
    const qwen = segs(151936, 896).headChunks();
    expect(qwen.length).toBe(9);
    expect(qwen[qwen.length - 1][1]).toBe(151936);
    for (const [a, b] of qwen) expect(4 * 896 * (b - a)).toBeLessThanOrEqual(64 * 2 ** 20);
  });
});

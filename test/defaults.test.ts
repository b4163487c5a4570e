// One home for every default: the CLI's options, the page's settings and a checkpoint's decoded
// settings all take their values from the settings module's one object.
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { BENCH_DEFAULTS, DEFAULT_SETTINGS, GRAD_DEFAULTS, PREDICTOR_DEFAULTS, STUDIO_DEFAULTS, trainSettingsSchema } from '../src/engine/settings';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../src/engine/run/checkpoint';
import { ADAMW_DEFAULTS } from '../src/engine/train/adamw';
import { program } from '../src/cli/program';
import { useStudio } from '../src/ui/store';

const command = (path: string): Command => path.split(' ').reduce<Command>((c, name) => c.commands.find((x) => x.name() === name)!, program);
const defaultOf = (c: Command, flag: string) => c.options.find((o) => o.long === flag)!.defaultValue as string;

describe('defaults', () => {
  it('the settings module\'s defaults are the schema\'s', () => {
    expect(DEFAULT_SETTINGS).toEqual(trainSettingsSchema.parse({}));
    expect(ADAMW_DEFAULTS.lr).toBe(DEFAULT_SETTINGS.lr);
  });

  it('the CLI\'s options default to the same values', () => {
    const train = command('train');
    const asNumber = (c: Command, flag: string) => Number(defaultOf(c, flag));
    expect(asNumber(train, '--lr')).toBe(DEFAULT_SETTINGS.lr);
    expect(asNumber(train, '--batch')).toBe(DEFAULT_SETTINGS.batch);
    expect(asNumber(train, '--lora-r')).toBe(DEFAULT_SETTINGS.loraR);
    expect(asNumber(train, '--lora-alpha')).toBe(DEFAULT_SETTINGS.loraAlpha);
    expect(asNumber(train, '--seed')).toBe(DEFAULT_SETTINGS.seed);
    expect(asNumber(train, '--block')).toBe(DEFAULT_SETTINGS.block);
    expect(asNumber(train, '--recall-every')).toBe(DEFAULT_SETTINGS.recallEvery);
    expect(defaultOf(train, '--sparsity')).toBe(DEFAULT_SETTINGS.sparsity);
    for (const name of ['grad', 'bench']) expect(asNumber(command(name), '--block')).toBe(DEFAULT_SETTINGS.block);
    expect(defaultOf(command('grad'), '--sparsity')).toBe(GRAD_DEFAULTS.sparsity);
    expect(asNumber(command('bench'), '--lr')).toBe(DEFAULT_SETTINGS.lr);
    expect(asNumber(command('bench'), '--steps')).toBe(BENCH_DEFAULTS.steps);
    expect(asNumber(command('predictors train'), '--block')).toBe(DEFAULT_SETTINGS.block);
    expect(asNumber(command('predictors train'), '--lr')).toBe(DEFAULT_SETTINGS.lr);
    expect(asNumber(command('predictors train'), '--prune')).toBe(PREDICTOR_DEFAULTS.prune);
  });

  it('the page starts from the same values, with the studio\'s own additions', () => {
    const page = useStudio.getState().settings;
    for (const [k, v] of Object.entries(DEFAULT_SETTINGS)) {
      if (!(k in STUDIO_DEFAULTS)) expect(page[k as keyof typeof page], k).toEqual(v);
    }
    for (const [k, v] of Object.entries(STUDIO_DEFAULTS)) expect(page[k as keyof typeof page], k).toEqual(v);
  });

  it('a checkpoint whose settings lack keys decodes with the same defaults', () => {
    const ck = {
      run: {
        step: 1, settings: {}, dataset: { hash: 'ab', documents: 1, windows: 1 }, model: { architecture: 'LlamaForCausalLM', parameters: 1, layers: 1, vocabSize: 1 },
        sampler: { epoch: 0, at: 1, windows: 1 }, optimizer: { steps: 1, settings: ADAMW_DEFAULTS }, badInARow: 0, history: [], skipped: [],
      },
      state: { steps: 1, optimizer: ADAMW_DEFAULTS, params: [{ peft: 'x.lora_A.weight', shape: [1, 1], value: Float32Array.of(1), m: Float32Array.of(0), v: Float32Array.of(0) }] },
    } as unknown as Checkpoint;
    expect(decodeCheckpoint(encodeCheckpoint(ck)).run.settings).toEqual(DEFAULT_SETTINGS);
  });
});

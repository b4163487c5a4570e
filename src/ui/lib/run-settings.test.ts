import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, STUDIO_DEFAULTS } from '../../engine/settings';
import type { Settings } from '../store';
import { runBlock, settingsIssue, settingsProblem, type BlockSources } from './run-settings';

const form: Settings = { ...DEFAULT_SETTINGS, ...STUDIO_DEFAULTS, sparsity: 'oracle', ctx: 256, block: 32 };
const none: BlockSources = { predictorsBlock: null, modelPolicyBlock: null };

describe("the run form's settings", () => {
  it('start as they are given', () => {
    expect(settingsProblem(form, none)).toBeNull();
    expect(settingsProblem({ ...form, sparsity: 'dense', ctx: 100 }, none)).toBeNull();
    expect(settingsProblem({ ...form, lr: 1 }, none)).toBeNull();
  });

  it('refuse a run of no steps', () => {
    expect(settingsProblem({ ...form, steps: 0 }, none)).toBe('Steps must be a whole number of at least 1 (it is 0): set how many optimizer steps the run takes.');
    expect(settingsProblem({ ...form, steps: -3 }, none)).toMatch(/^Steps must be a whole number of at least 1 \(it is -3\)/);
    expect(settingsProblem({ ...form, steps: 2.5 }, none)).toMatch(/^Steps must be a whole number/);
  });

  it('refuse a learning rate of 0 or below, and one far too large', () => {
    expect(settingsProblem({ ...form, lr: 0 }, none)).toBe('The learning rate must be above 0 (it is 0); 0.001 is a good start.');
    expect(settingsProblem({ ...form, lr: -0.001 }, none)).toMatch(/^The learning rate must be above 0/);
    expect(settingsProblem({ ...form, lr: 1000 }, none)).toBe('A learning rate of 1000 is far too large (the run would diverge at once): use one of at most 1, such as 0.001.');
  });

  it('refuse a context that is not a whole number of the blocks the run uses', () => {
    expect(settingsProblem({ ...form, ctx: 100 }, none)).toBe('A context of 100 tokens is not a whole number of 32-token blocks: use a multiple of 32, such as 96 or 128.');
    // lemo uses the predictors' blocks, and a model's policy.json its own, whatever the block field says.
    const lemo = { ...form, sparsity: 'lemo' as const, ctx: 96, block: 32 };
    expect(runBlock(lemo, { predictorsBlock: 64, modelPolicyBlock: null })).toBe(64);
    expect(settingsProblem(lemo, { predictorsBlock: 64, modelPolicyBlock: null })).toMatch(/^A context of 96 tokens is not a whole number of 64-token blocks: use a multiple of 64, such as 64 or 128\.$/);
    expect(settingsProblem({ ...form, ctx: 96 }, { predictorsBlock: null, modelPolicyBlock: 16 })).toBeNull();
    expect(settingsProblem({ ...form, ctx: 40 }, { predictorsBlock: null, modelPolicyBlock: 16 })).toMatch(/16-token blocks/);
    expect(runBlock({ ...form, sparsity: 'dense' }, none)).toBeNull();
  });

  it('refuse a shifted sparse attention group no window can use, at the group field', () => {
    expect(settingsProblem({ ...form, attention: 's2', group: 64 }, none)).toBeNull();
    expect(settingsProblem({ ...form, attention: 's2', group: null }, none)).toBeNull();
    expect(settingsIssue({ ...form, attention: 's2', group: 3 }, none)).toEqual({ field: 'group', message: 'The shifted sparse attention group must be a positive even number of tokens, got 3.' });
    expect(settingsProblem({ ...form, attention: 's2', group: 96 }, none)).toMatch(/^The 256-token window is not a multiple of the shifted sparse attention group \(96 tokens\)/);
    expect(settingsProblem({ ...form, attention: 'full', group: 3 }, none)).toBeNull();
  });

  it('refuse the other values no run can use', () => {
    expect(settingsProblem({ ...form, batch: 0 }, none)).toMatch(/^Batch must be a whole number of at least 1/);
    expect(settingsProblem({ ...form, ctx: 0 }, none)).toMatch(/^Context length must be a whole number of at least 16 tokens/);
    expect(settingsProblem({ ...form, block: 0 }, none)).toMatch(/^The block must be a whole number/);
    expect(settingsProblem({ ...form, keepRatio: 0 }, none)).toMatch(/^The keep ratio must be above 0 and at most 1/);
    expect(settingsProblem({ ...form, loraR: 0 }, none)).toMatch(/^LoRA r must be/);
    expect(settingsProblem({ ...form, evalEvery: 5, evalChunks: 0 }, none)).toMatch(/^Held-out chunks must be/);
    expect(settingsProblem({ ...form, evalEvery: 0, evalChunks: 0 }, none)).toBeNull();
  });

  it('refuse an MLP channel share, target modules or a per-layer policy out of range, at their field', () => {
    const six: BlockSources = { ...none, layers: 6 };
    expect(settingsIssue({ ...form, mlpKeep: 1.5 }, six)).toEqual({ field: 'mlp-keep', message: "The MLP channel share must be above 0 and at most 1 (it is 1.5): 1 keeps every channel, empty takes the model policy's share." });
    expect(settingsIssue({ ...form, mlpKeep: 0 }, six)?.field).toBe('mlp-keep');
    expect(settingsProblem({ ...form, mlpKeep: 1 }, six)).toBeNull();
    expect(settingsProblem({ ...form, sparsity: 'dense', mlpKeep: 7 }, six)).toBeNull();
    expect(settingsIssue({ ...form, targetModules: ['q_proj', 'v proj!'] }, six)?.field).toBe('target-modules');
    expect(settingsIssue({ ...form, policy: [null, null, null, 2, 0.4, null] }, six)).toEqual({ field: 'policy', message: "Layer 3's keep ratio must be above 0 and at most 1 (it is 2)." });
    expect(settingsIssue({ ...form, policy: [null, null, 0.4] }, six)?.field).toBe('policy');
    expect(settingsProblem({ ...form, policy: [null, null, null, 0.5, { threshold: 1 }, null] }, six)).toBeNull();
    expect(settingsIssue({ ...form, steps: 0 }, six)?.field).toBe('steps');
  });
});

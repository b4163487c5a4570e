import { describe, expect, it } from 'vitest';
import { editRow, paperPolicy, parseTargets, policyProblem, shownPolicy, withKind, withValue } from './policy-table';

describe('the per-layer policy table', () => {
  it("shows the settings' policy, else the model's policy.json, else the paper's default", () => {
    expect(shownPolicy({ policy: null, keepRatio: 0.4 }, 6, null)).toEqual({ entries: [null, null, null, 0.4, 0.4, null], source: 'paper' });
    const model = { policy: [null, { threshold: 1.2, predicted: 1.1 }] };
    expect(shownPolicy({ policy: null, keepRatio: 0.4 }, 2, model)).toEqual({ entries: model.policy, source: 'model' });
    expect(shownPolicy({ policy: [0.5, null], keepRatio: 0.4 }, 2, model).source).toBe('settings');
    expect(paperPolicy(4, 0.3)).toEqual([null, null, 0.3, null]);
  });

  it('edits one row: its kind, or its value (a hand-set threshold drops its calibrated factor)', () => {
    const entries = [null, { threshold: 1.2, predicted: 1.1 }, 0.4];
    expect(editRow(entries, 0, withKind(null, 'keep', 0.4))).toEqual([0.4, entries[1], 0.4]);
    expect(withKind(0.4, 'dense', 0.4)).toBeNull();
    expect(withKind(null, 'threshold', 0.4)).toEqual({ threshold: 1 });
    expect(withValue(entries[1], 1.5)).toEqual({ threshold: 1.5 });
    expect(withValue(entries[1], 1.2)).toBe(entries[1]);
    expect(withValue(0.4, 0.25)).toBe(0.25);
  });

  it('refuses values out of range with the layer named', () => {
    expect(policyProblem([null, 0.5, { threshold: 0 }], 3)).toBeNull();
    expect(policyProblem([null, 1.5, null], 3)).toBe("Layer 1's keep ratio must be above 0 and at most 1 (it is 1.5).");
    expect(policyProblem([null, 0, null], 3)).toMatch(/^Layer 1's keep ratio/);
    expect(policyProblem([null, { threshold: -1 }, null], 3)).toBe("Layer 1's threshold must be a number of 0 or more (it is -1).");
    expect(policyProblem([null, null], 3)).toBe("The per-layer policy lists 2 layers but the model has 3: reset it to the model's policy.");
  });

  it('reads target modules separated by commas or spaces', () => {
    expect(parseTargets('q_proj, v_proj,  o_proj ')).toEqual(['q_proj', 'v_proj', 'o_proj']);
    expect(parseTargets('')).toEqual([]);
  });
});

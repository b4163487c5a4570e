import { describe, expect, it } from 'vitest';
import { policyText } from './sparsity-note';

describe('the model\'s policy.json in a line', () => {
  it('counts the eliminating layers and names their kind, block and calibration context', () => {
    expect(policyText({ block: 32, ctx: 1024, policy: [null, { threshold: 1.1 }, { threshold: 0.9 }, null], tuned: { data: 'd', windows: 4, bound: 0.01, totalBound: null, step: 0.05, denseLoss: 4, loss: 4.1, layers: [] } }))
      .toBe('policy.json: 2 of 4 layers eliminate (thresholds), blocks of 32, tuned at 1024 tokens');
    expect(policyText({ block: 16, ctx: null, policy: [null, 0.5, { threshold: 1 }] })).toBe('policy.json: 2 of 3 layers eliminate (thresholds and keep ratios), blocks of 16');
    expect(policyText({ block: 32, ctx: 2048, policy: [null, { threshold: 1.2, predicted: 1.1 }], mlpKeep: 0.2, calibrated: { data: 'd', windows: 16, recall: 0.95, predictors: 'p', layers: [] } }))
      .toBe('policy.json: 1 of 2 layers eliminate (thresholds), blocks of 32, calibrated to the predictors (recall 95%); the backward keeps 20% of the MLP channels in every layer');
  });
});

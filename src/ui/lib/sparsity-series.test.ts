import { describe, expect, it } from 'vitest';
import type { SparsityEvent } from '../../engine/events';
import { cellStates, heatmapCsv, layerSparsity, layersCsv, meanEliminated, meanRecall } from './sparsity-series';

const event: SparsityEvent = {
  type: 'sparsity', step: 3, block: 4, blocks: 4,
  kept: [null, [0, 3], [1]],
  recall: [null, 1, 0.5],
  blockText: ['a b', 'c, "d"', 'e\nf', 'g'],
};

describe('sparsity series', () => {
  it('gives each layer its eliminated share and recall; dense layers eliminate nothing', () => {
    const rows = layerSparsity(event);
    expect(rows.map((r) => [r.label, r.dense, r.keptBlocks, r.eliminated, r.recall])).toEqual([
      ['L0', true, 4, 0, null],
      ['L1', false, 2, 0.5, 1],
      ['L2', false, 1, 0.75, 0.5],
    ]);
    expect(meanEliminated(rows)).toBe(0.625);
    expect(meanEliminated(layerSparsity({ ...event, kept: [null, null] }))).toBeNaN();
  });

  it('marks each cell kept, eliminated or dense', () => {
    expect(cellStates(event)).toEqual([
      ['dense', 'dense', 'dense', 'dense'],
      ['kept', 'eliminated', 'eliminated', 'kept'],
      ['eliminated', 'kept', 'eliminated', 'eliminated'],
    ]);
  });

  it('takes the latest measured recall where the step did not measure one', () => {
    const unmeasured = { ...event, recall: null };
    expect(layerSparsity(unmeasured, [null, 0.5, 0.25]).map((r) => r.recall)).toEqual([null, 0.5, 0.25]);
    expect(layerSparsity(unmeasured).map((r) => r.recall)).toEqual([null, null, null]);
    expect(meanRecall(layerSparsity(unmeasured, [null, 0.5, 0.25]))).toBe(0.375);
    expect(meanRecall(layerSparsity(unmeasured))).toBeNaN();
  });

  it('writes CSV with quoted text', () => {
    expect(layersCsv(layerSparsity(event), 3).split('\n')[2]).toBe('3,1,false,2,0.5,1');
    const rows = heatmapCsv(event);
    expect(rows.split('\n')[0]).toBe('step,layer,block,first_token,state,text');
    expect(rows).toContain('3,1,1,4,eliminated,"c, ""d"""\n');
    expect(rows).toContain('3,2,2,8,eliminated,"e\nf"\n');
  });
});

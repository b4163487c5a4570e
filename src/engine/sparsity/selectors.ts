// The token selectors the step is handed, built from the settings: dense, blocks forced per
// layer (keep), the oracle's block scores under a policy, or the predictors' (lemo), with the
// oracle beside them when recall is measured. Each remembers its last pass's choice.
import { UserError } from '../errors';
import type { Tensor } from '../runtime/runtime';
import { attentionGroup, type TrainSettings } from '../settings';
import { DENSE, type LayerProbe, type TokenSelector } from '../train/selection';
import { blockCount, blocksToRows, type KeepSpec } from './blocks';
import { columnScores, oracleTiles } from './oracle';
import { keptBlocks, predictedPolicy, type LayerPolicy } from './policy';
import type { PolicyFile } from './policy-file';
import { runPolicy } from './run-policy';
import { normWeights, recall, type DevicePredictors } from './predictor';

/**
 * How layers choose their tokens: all of them, blocks forced per layer, the oracle or the
 * predictors with a policy; with `group`, training passes use shifted sparse attention.
 */
export type Sparsity = { group?: number | null } & (
  | { mode: 'dense' }
  | { mode: 'keep'; spec: KeepSpec; mlpKeep?: number }
  | { mode: 'oracle'; block: number; policy: LayerPolicy[]; mlpKeep?: number }
  /** Blocks chosen from the predictors' scores; with `recall`, the oracle runs too, to measure them. */
  | { mode: 'lemo'; predictors: DevicePredictors; policy: LayerPolicy[]; mlpKeep?: number; recall?: boolean });

/** The last pass's choice per layer, for dashboards and benchmarks. */
export interface SelectionRecord {
  block: number;
  blocks: number;
  /** Kept block indices per layer; null where the layer ran dense. */
  kept: (number[] | null)[];
  /** Per layer, the share of the oracle's kept blocks the predictors kept (lemo mode with recall). */
  recall?: (number | null)[];
  /** Time spent predicting and selecting over the pass (lemo mode), in ms. */
  predictMs?: number;
}

/** A selector that remembers what it chose in its last pass (null before one, and when dense). */
export interface Selector extends TokenSelector {
  readonly last: SelectionRecord | null;
}

/**
 * The sparsity these settings ask for (or blocks forced per layer), under the policy runPolicy
 * picks (the model's policy file when the settings give none); lemo needs the predictors on the device.
 */
export function sparsityOf(s: TrainSettings, layers: number, from: { predictors?: DevicePredictors; keep?: KeepSpec; modelPolicy?: PolicyFile | null } = {}): Sparsity {
  const group = attentionGroup(s, s.ctx);
  return group ? { ...tokenSparsity(s, layers, from), group } : tokenSparsity(s, layers, from);
}

function tokenSparsity(s: TrainSettings, layers: number, from: { predictors?: DevicePredictors; keep?: KeepSpec; modelPolicy?: PolicyFile | null }): Sparsity {
  const { predictors, keep } = from;
  if (keep) return { mode: 'keep', spec: keep, mlpKeep: s.mlpKeep ?? undefined };
  if (s.sparsity === 'dense') return { mode: 'dense' };
  const { policy, block, mlpKeep } = runPolicy(s, layers, from.modelPolicy ?? null);
  if (s.sparsity === 'lemo') {
    if (!predictors) throw new UserError('The lemo mode needs pattern predictors: load a predictors file, or train them first (lemo predictors train).');
    return { mode: 'lemo', predictors, policy, mlpKeep: mlpKeep ?? undefined };
  }
  return { mode: 'oracle', block, policy, mlpKeep: mlpKeep ?? undefined };
}

/** The selector of a sparsity, for a model of `layers` layers. */
export function selectorFor(s: Sparsity, layers: number): Selector {
  return s.mode === 'dense' ? { ...DENSE, group: s.group ?? null, last: null } : new BlockSelector(s, layers);
}

type Sparse = Exclude<Sparsity, { mode: 'dense' }>;

class BlockSelector implements Selector {
  readonly mlpKeep: number | null;
  readonly group: number | null;
  private readonly block: number;
  private record: SelectionRecord | null = null;

  constructor(private readonly s: Sparse, private readonly layers: number) {
    if (s.mlpKeep !== undefined && !(s.mlpKeep > 0 && s.mlpKeep <= 1)) throw new UserError(`The MLP channel share must be in (0, 1], got ${s.mlpKeep}.`);
    this.mlpKeep = s.mlpKeep === undefined || s.mlpKeep === 1 ? null : s.mlpKeep;
    this.group = s.group ?? null;
    this.block = s.mode === 'keep' ? s.spec.block : s.mode === 'lemo' ? s.predictors.block : s.block;
    if (s.mode === 'lemo' && s.predictors.set.config.layers.length !== layers) throw new UserError(`The predictors cover ${s.predictors.set.config.layers.length} layers; the model has ${layers}.`);
  }

  get last(): SelectionRecord | null {
    return this.record;
  }

  async select(layer: number, h: Tensor, T: number, probe: LayerProbe): Promise<number[] | null> {
    if (layer === 0) {
      this.record = { block: this.block, blocks: blockCount(T, this.block), kept: Array(this.layers).fill(null) };
      if (this.s.mode === 'lemo') Object.assign(this.record, { recall: Array(this.layers).fill(null), predictMs: 0 });
    }
    const blocks = await this.blocksOf(layer, h, T, probe);
    this.record!.kept[layer] = blocks;
    return blocks ? blocksToRows(blocks, this.block, T) : null;
  }

  private async blocksOf(layer: number, h: Tensor, T: number, probe: LayerProbe): Promise<number[] | null> {
    const s = this.s;
    const nb = blockCount(T, this.block);
    if (s.mode === 'keep') {
      const blocks = s.spec.layers[layer];
      if (blocks && blocks.some((j) => j >= nb)) throw new UserError(`Layer ${layer}: kept block ${Math.max(...blocks)} is past the sequence's last block (${nb - 1}).`);
      return blocks;
    }
    if (s.policy[layer].kind === 'dense') return null;
    const oracle = async () => keptBlocks(columnScores(await oracleTiles(probe, layer, h, T, this.block), nb), s.policy[layer]);
    if (s.mode === 'oracle') return oracle();
    const t0 = performance.now();
    const scores = await s.predictors.scores(layer, h, T, normWeights(probe.config, probe.layerWeights(layer)));
    const blocks = keptBlocks(scores, predictedPolicy(s.policy[layer]));
    this.record!.predictMs! += performance.now() - t0;
    if (s.recall) this.record!.recall![layer] = recall(await oracle(), blocks);
    return blocks;
  }
}

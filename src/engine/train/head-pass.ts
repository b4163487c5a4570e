// The LM head in a pass: by token segments, and in each segment by vocabulary chunks (the
// head's rows lent one chunk at a time by DeviceModel.headRows), then the segment's loss and,
// for the backward, the gradient of h added up over the segments.
import { gradName } from '../graph/autodiff';
import { HEAD_GRAD_STATS, HEAD_STATS } from '../model/head';
import type { Tensor } from '../runtime/runtime';
import type { PassContext } from './pass';

/** Each target's row in the chunk [v0, v1) (0 where it is not there) and 1 where it is. */
function chunkTargets(c: PassContext, targets: Int32Array, shape: number[], v0: number, v1: number): Record<string, Tensor> {
  const tidx = new BigInt64Array(targets.length);
  const tmask = new Float32Array(targets.length);
  targets.forEach((t, i) => {
    if (t >= v0 && t < v1) [tidx[i], tmask[i]] = [BigInt(t - v0), 1];
  });
  return { tidx: c.dm.rt.tensor('int64', tidx, shape), tmask: c.dm.rt.tensor('float32', tmask, shape) };
}

/** The chunks' stats of one segment (HEAD_STATS, and HEAD_GRAD_STATS with `grads`). */
async function segmentStats(c: PassContext, feeds: Record<string, Tensor>, targets: Int32Array, grads: boolean): Promise<Record<string, Tensor>> {
  const names = grads ? [...HEAD_STATS, ...HEAD_GRAD_STATS] : HEAD_STATS;
  const graphs = grads ? c.head.chunkGrads : c.head.chunk;
  const shape = feeds.weights.dims as number[];
  let stats: Record<string, Tensor> | null = null;
  for (const [v0, v1] of c.segments.headChunks()) {
    const w = await c.dm.headRows(v0, v1);
    const carried = stats ? Object.fromEntries(names.map((n) => [`${n}_in`, stats![n]])) : {};
    const out = await c.tensors.run(stats ? graphs.rest : graphs.first, { ...feeds, ...chunkTargets(c, targets, shape, v0, v1), ...carried, w });
    c.dm.releaseHeadRows(w);
    if (stats) Object.values(stats).forEach((t) => c.tensors.free(t));
    stats = out;
  }
  return stats!;
}

/**
 * The LM head over h (B, T, C) by token segments. With `backward`: the mean loss over `tokens`
 * predictions and its gradient dh (B, T, C); otherwise the summed negative log-likelihood.
 */
export async function headForward(c: PassContext, ids: number[][], h: Tensor, tokens: number, backward: boolean): Promise<{ loss: number; dh: Tensor | undefined }> {
  const { dm, tensors } = c;
  const T = ids[0].length;
  const rows = c.segments.headRows();
  let loss = 0;
  let dh: Tensor | undefined;
  for (let s = 0; s < T; s += rows) {
    const { feeds, targets } = dm.headFeeds(ids, s, Math.min(T, s + rows), backward ? tokens : 1);
    feeds.h = h;
    const stats = await segmentStats(c, feeds, targets, backward);
    const lossFeeds: Record<string, Tensor> = { ...feeds, ...stats };
    if (backward) {
      lossFeeds[gradName('head_dot')] = dm.rt.tensor('float32', Float32Array.of(1), []);
      if (dh) lossFeeds[`acc_${gradName('h')}`] = dh;
    }
    const out = await tensors.run(!backward ? c.head.plain : dh ? c.head.rest : c.head.first, lossFeeds);
    loss += await dm.rt.readScalar(out.loss);
    Object.values(stats).forEach((t) => tensors.free(t));
    for (const [name, t] of Object.entries(out)) if (name !== gradName('h')) tensors.free(t);
    if (!backward) continue;
    tensors.free(dh);
    dh = out[gradName('h')];
  }
  return { loss, dh };
}

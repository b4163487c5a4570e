// One pass over a batch as separate functions, in the manner of llm.c: the forward of a layer
// (saving what its backward reads), the head by token segments (loss, and its gradient), the
// backward of a layer. The tensors a pass produces are tracked so each is freed once nothing
// reads it, and every one of them at the pass's end.
import { gradName } from '../graph/autodiff';
import { int64s, type Graph } from '../graph/ir';
import type { Runtime, Tensor } from '../runtime/runtime';
import { attentionShape, KERNEL_ROWS, type GpuKernels } from '../runtime/kernels/kernels';
import type { DeviceModel } from './device-model';
import type { HeadGraphs, LayerGraphs, SegmentGraphs } from './layer-graphs';
import { tileStarts, type Segments } from './segments';

/** The tensors of one pass: each run's outputs are registered as activations. */
export class PassTensors {
  private produced = new Set<Tensor>();

  constructor(readonly rt: Runtime) {}

  async run(g: Graph, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const out = await this.rt.run(g, feeds);
    for (const t of Object.values(out)) {
      this.produced.add(t);
      this.rt.memory.track(t, 'activations');
    }
    return out;
  }

  /** Whether the pass produced (or adopted) this tensor and frees it. */
  owns(t: Tensor): boolean {
    return this.produced.has(t);
  }

  adopt(t: Tensor): void {
    this.produced.add(t);
  }

  /** Registers tensors a kernel produced as the pass's activations. */
  own(...ts: Tensor[]): void {
    for (const t of ts) {
      this.produced.add(t);
      this.rt.memory.track(t, 'activations');
    }
  }

  /** Hands a tensor to the caller: the pass no longer frees it. */
  release(t: Tensor): void {
    this.produced.delete(t);
  }

  free(t: Tensor | undefined): void {
    if (t && this.produced.delete(t)) this.rt.dispose(t);
  }

  freeAll(): void {
    for (const t of this.produced) this.rt.dispose(t);
  }
}

/** What the layer functions read: the model on the device, the compiled parts, the LoRA factors. */
export interface PassContext {
  dm: DeviceModel;
  tensors: PassTensors;
  segments: Segments;
  seg: SegmentGraphs;
  /** Shifted sparse attention's group size in this pass (seg is then its graphs); null: full attention. */
  group: number | null;
  head: HeadGraphs;
  /** Layer l's graphs, dense or token-eliminating. */
  graphs(layer: number, sparse: boolean): LayerGraphs;
  loraFeeds(layer: number): Record<string, Tensor>;
  /** The engine's WGSL kernels (attention runs there when they take its head size), or null. */
  kernels: GpuKernels | null;
  /** Rotary tables of every row, made once per pass for all the layers that keep every row. */
  allRope?: { rows: number[]; tables: { cos: Tensor; sin: Tensor } | null };
}

/** The layer's rotary tables: shared by the pass when the layer keeps every row (then not its to free). */
async function ropeOf(c: PassContext, rows: number[]): Promise<{ tables: { cos: Tensor; sin: Tensor } | null; shared: boolean }> {
  if (c.allRope?.rows === rows) return { tables: c.allRope.tables, shared: true };
  const tables = await c.dm.ropeFor(rows);
  if (tables) Object.values(tables).forEach((t) => c.tensors.adopt(t));
  return { tables, shared: false };
}

/** What one layer's forward left for its backward. */
export interface LayerSaved {
  rows: number[];
  sparse: boolean;
  pre: Record<string, Tensor>;
  post: Record<string, Tensor>;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  common: Record<string, Tensor>;
  /** The kernel path's attention output and log-sum-exp per row (its backward reads both). */
  o?: Tensor;
  lse?: Tensor;
  /** Its rotary tables are the pass's shared ones (freed with the pass). */
  sharedRope: boolean;
}

/**
 * Every tensor a saved layer holds, each once, but the pass's shared rotary tables (other layers
 * read them): what its backward frees, and what offload may park. Those the pass did not make
 * (weights, LoRA factors, host inputs) are among them; freeing and parking leave them alone.
 */
export function savedTensors(sv: LayerSaved): Tensor[] {
  const all = [...Object.values(sv.pre), ...Object.values(sv.post), sv.q, sv.k, sv.v, ...Object.values(sv.common), ...(sv.o && sv.lse ? [sv.o, sv.lse] : [])];
  const shared = new Set(sv.sharedRope ? [sv.common.cos, sv.common.sin] : []);
  return [...new Set(all)].filter((t) => !shared.has(t));
}

/** The kernels, when they run this attention (the graphs by segments otherwise). */
function kernelsFor(c: PassContext, q: Tensor): GpuKernels | null {
  return c.kernels?.supports(q.dims[3]) ? c.kernels : null;
}

/** Attention over the kept rows (one kernel, or the graphs by query segments); returns o (B, H, rows, D). */
async function attentionForward(c: PassContext, pre: Record<string, Tensor>, rows: number[]): Promise<{ o: Tensor; lse?: Tensor }> {
  const kernels = kernelsFor(c, pre.q);
  if (kernels) {
    const r = kernels.attentionForward(pre.q, pre.k, pre.v, attentionShape(pre.q, pre.k, c.group), rows, c.group ? tileStarts(rows, c.group, KERNEL_ROWS) : null);
    c.tensors.own(r.o, r.lse);
    return r;
  }
  let o: Tensor | undefined;
  for (const [s, e] of c.segments.attention(rows.length)) {
    const feeds = { q: pre.q, k: pre.k, v: pre.v, ...c.segments.feeds(rows, s, e, c.group), ...(o ? { o_acc: o } : {}) };
    const next = (await c.tensors.run(o ? c.seg.rest : c.seg.first, feeds)).o;
    c.tensors.free(o);
    o = next;
  }
  return { o: o! };
}

/**
 * Layer l's forward on h (B, T, C), over the kept rows or every row (kept null). With
 * `backward`, returns what its backward reads; otherwise frees everything but the output.
 */
export async function layerForward(c: PassContext, l: number, h: Tensor, kept: number[] | null, allRows: number[], backward: boolean): Promise<{ out: Tensor; saved: LayerSaved | null }> {
  const { dm } = c;
  const rows = kept ?? allRows;
  const { tables: rope, shared } = await ropeOf(c, rows);
  return dm.withLayerWeights(l, (weights) => layerRuns(c, l, h, kept, rows, backward, { weights, rope, shared }));
}

/** The forward's runs with the layer's weights at hand; what it saves names them, and its backward gets them anew. */
async function layerRuns(c: PassContext, l: number, h: Tensor, kept: number[] | null, rows: number[], backward: boolean, w: { weights: Record<string, Tensor>; rope: { cos: Tensor; sin: Tensor } | null; shared: boolean }): Promise<{ out: Tensor; saved: LayerSaved | null }> {
  const { dm, tensors } = c;
  const { rope, shared } = w;
  const g = c.graphs(l, kept !== null);
  const common: Record<string, Tensor> = { ...w.weights, ...c.loraFeeds(l), ...(rope ?? {}) };
  if (kept) common.idx = dm.rt.tensor('int64', int64s(kept.length, (i) => kept[i]), [kept.length]);
  const preFeeds = { ...common, h };
  const pre = await tensors.run(backward ? g.pre.forward : g.pre.plain, preFeeds);
  const { o, lse } = await attentionForward(c, pre, rows);
  const postFeeds = { ...common, h, o };
  const post = await tensors.run(backward ? g.post.forward : g.post.plain, postFeeds);
  if (!backward) {
    for (const t of [pre.q, pre.k, pre.v, o, lse, h]) tensors.free(t);
    if (rope && !shared) Object.values(rope).forEach((t) => tensors.free(t));
    return { out: post.out, saved: null };
  }
  const keep = (names: string[], out: Record<string, Tensor>, feeds: Record<string, Tensor>) => Object.fromEntries(names.map((n) => [n, out[n] ?? feeds[n]]));
  const saved: LayerSaved = { rows, sparse: kept !== null, pre: keep(g.pre.saved, pre, preFeeds), post: keep(g.post.saved, post, postFeeds), q: pre.q, k: pre.k, v: pre.v, common, sharedRope: shared };
  if (lse) [saved.o, saved.lse] = [o, lse];
  // The layer's input and o stay only if a backward reads them (a sparse layer keeps just the
  // gathered rows of h).
  else if (!g.post.saved.includes('o')) tensors.free(o);
  if (!g.pre.saved.includes('h') && !g.post.saved.includes('h')) tensors.free(h);
  return { out: post.out, saved };
}

/** The attention's backward (kernels, or the graphs by query segments, recomputing each): the gradients of q, k, v. */
async function attentionBackward(c: PassContext, sv: LayerSaved, dO: Tensor): Promise<Record<string, Tensor>> {
  const kernels = kernelsFor(c, sv.q);
  if (kernels && sv.o && sv.lse) {
    const shape = attentionShape(sv.q, sv.k, c.group);
    const r = kernels.attentionBackward({ q: sv.q, k: sv.k, v: sv.v, o: sv.o, lse: sv.lse, dO }, shape, sv.rows, c.group ? tileStarts(sv.rows, c.group, KERNEL_ROWS) : null);
    c.tensors.own(r.dq, r.dk, r.dv);
    return { [gradName('q')]: r.dq, [gradName('k')]: r.dk, [gradName('v')]: r.dv };
  }
  let acc: Record<string, Tensor> | null = null;
  for (const [s, e] of c.segments.attention(sv.rows.length)) {
    const feeds: Record<string, Tensor> = { q: sv.q, k: sv.k, v: sv.v, ...c.segments.feeds(sv.rows, s, e, c.group), [gradName('o')]: dO };
    if (acc) for (const n of ['q', 'k', 'v']) feeds[`acc_${gradName(n)}`] = acc[gradName(n)];
    const out = await c.tensors.run(acc ? c.seg.backwardRest : c.seg.backwardFirst, feeds);
    if (acc) Object.values(acc).forEach((t) => c.tensors.free(t));
    acc = { [gradName('q')]: out[gradName('q')], [gradName('k')]: out[gradName('k')], [gradName('v')]: out[gradName('v')] };
  }
  return acc!;
}

/**
 * Layer l's backward from the gradient of its output dOut (freed here); `collect` receives the
 * outputs of each part (the LoRA gradients among them). Returns the gradient of its input.
 */
export async function layerBackward(c: PassContext, l: number, sv: LayerSaved, dOut: Tensor, collect: (out: Record<string, Tensor>) => void): Promise<Tensor> {
  return c.dm.withLayerWeights(l, (weights) => layerBackwardRuns(c, l, sv, { ...weights, [gradName('out')]: dOut }, collect));
}

/** The backward's runs; `given` holds the layer's weights (widened anew) and dOut. */
async function layerBackwardRuns(c: PassContext, l: number, sv: LayerSaved, given: Record<string, Tensor>, collect: (out: Record<string, Tensor>) => void): Promise<Tensor> {
  const { tensors } = c;
  const g = c.graphs(l, sv.sparse);
  const dOut = given[gradName('out')];
  const post = await tensors.run(g.post.backward, { ...sv.post, ...given });
  collect(post);
  tensors.free(dOut);
  const acc = await attentionBackward(c, sv, post[gradName('o')]);
  tensors.free(post[gradName('o')]);
  const pre = await tensors.run(g.pre.backward, { ...sv.pre, ...given, ...acc, [`acc_${gradName('h')}`]: post[gradName('h')] });
  collect(pre);
  Object.values(acc).forEach((t) => tensors.free(t));
  tensors.free(post[gradName('h')]);
  for (const t of savedTensors(sv)) tensors.free(t);
  return pre[gradName('h')];
}

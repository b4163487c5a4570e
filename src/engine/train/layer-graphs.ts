// The compiled pieces of a layer and of the head: each part's forward (with the values its
// backward reads as extra outputs), its backward, and a plain forward for evaluation.
import { differentiate, type Differentiated } from '../graph/autodiff';
import type { GraphBuilder } from '../graph/builder';
import type { Graph } from '../graph/ir';
import { buildPost, buildPre, buildSegment, type PartSpec } from '../model/layer-parts';
import { buildHeadChunk, buildHeadLoss } from '../model/head';
import type { ModelConfig } from '../model/config';

export interface PartGraphs {
  plain: Graph;
  forward: Graph;
  backward: Graph;
  saved: string[];
}

function part(build: () => GraphBuilder, wrt: (b: GraphBuilder) => string[], seeds: string[], accumulate: string[] = []): PartGraphs {
  const fb = build();
  const plain = fb.build();
  const d: Differentiated = differentiate(fb, { wrt: wrt(fb), seeds, accumulate });
  return { plain, forward: d.forward, backward: d.backward, saved: d.saved };
}

const loraInputs = (b: GraphBuilder) => b.inputs.filter((i) => i.name.includes('.lora_')).map((i) => i.name);

export interface LayerGraphs {
  pre: PartGraphs;
  post: PartGraphs;
}

/** pre: gradients for h (added to the post's, passed in) and its LoRA factors; post: for h, o and its LoRA factors. */
export function layerGraphs(p: PartSpec): LayerGraphs {
  return {
    pre: part(() => buildPre(p), (b) => ['h', ...loraInputs(b)], ['q', 'k', 'v'], ['h']),
    post: part(() => buildPost(p), (b) => ['h', 'o', ...loraInputs(b)], ['out']),
  };
}

export interface SegmentGraphs {
  /** Forward of the first segment (o starts at zero) and of the others (o accumulates). */
  first: Graph;
  rest: Graph;
  /** Recompute-and-differentiate of a segment: gradients of q, k, v (rest: added to accumulators). */
  backwardFirst: Graph;
  backwardRest: Graph;
}

/** The segment's graphs, with full causal attention or (grouped) shifted sparse attention. */
export function segmentGraphs(cfg: ModelConfig, grouped = false): SegmentGraphs {
  const grads = (accumulate: string[]) =>
    differentiate(buildSegment(cfg, 'float32', true, grouped), { wrt: ['q', 'k', 'v'], seeds: ['o'], accumulate, fusedOutputs: 'grads' }).fused;
  return {
    first: buildSegment(cfg, 'float32', true, grouped).build(),
    rest: buildSegment(cfg, 'float32', false, grouped).build(),
    backwardFirst: grads([]),
    backwardRest: grads(['q', 'k', 'v']),
  };
}

export interface HeadGraphs {
  /** A vocabulary chunk's stats: the first chunk's and the others' (carrying them), without and with the backward's. */
  chunk: { first: Graph; rest: Graph };
  chunkGrads: { first: Graph; rest: Graph };
  /** A segment's loss from the stats; with the gradient of h (rest: added to an accumulator). */
  plain: Graph;
  first: Graph;
  rest: Graph;
}

/** `onDevice`: the chunks' logits as x · Transpose(w), faster than Gemm's transB under WebGPU (head.ts). */
export function headGraphs(cfg: ModelConfig, onDevice = false): HeadGraphs {
  const chunk = (grads: boolean) => ({ first: buildHeadChunk(cfg, 'float32', true, grads, onDevice).build(), rest: buildHeadChunk(cfg, 'float32', false, grads, onDevice).build() });
  const fused = (accumulate: string[]) => differentiate(buildHeadLoss(cfg, 'float32', true), { wrt: ['h'], seeds: ['head_dot'], accumulate }).fused;
  return { chunk: chunk(false), chunkGrads: chunk(true), plain: buildHeadLoss(cfg, 'float32', false).build(), first: fused([]), rest: fused(['h']) };
}

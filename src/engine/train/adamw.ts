// AdamW as one shape-generic graph, run once per parameter tensor: decoupled weight decay,
// bias-corrected moments, as torch.optim.AdamW.
import { GraphBuilder } from '../graph/builder';
import type { Graph } from '../graph/ir';

export interface AdamWSettings {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWSettings = { lr: 2e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.0 };

let cached: Graph | undefined;

/** Inputs p, g, m, v (R, C) and scalars lr, beta1, beta2, eps, wd, bc1, bc2; outputs p_new, m_new, v_new. */
export function adamwGraph(): Graph {
  if (cached) return cached;
  const b = new GraphBuilder('adamw');
  const dims = ['R', 'C'];
  const [p, g, m, v] = ['p', 'g', 'm', 'v'].map((n) => b.input(n, 'float32', dims));
  const [lr, b1, b2, eps, wd, bc1, bc2] = ['lr', 'beta1', 'beta2', 'eps', 'wd', 'bc1', 'bc2'].map((n) => b.input(n, 'float32', []));
  const one = b.scalar(1, 'float32');
  const m2 = b.add(b.mul(m, b1), b.mul(g, b.sub(one, b1)));
  const v2 = b.add(b.mul(v, b2), b.mul(b.mul(g, g), b.sub(one, b2)));
  const decayed = b.mul(p, b.sub(one, b.mul(lr, wd)));
  const denom = b.add(b.sqrt(b.div(v2, bc2)), eps);
  const p2 = b.sub(decayed, b.mul(lr, b.div(b.div(m2, bc1), denom)));
  b.output(p2, 'p_new');
  b.output(m2, 'm_new');
  b.output(v2, 'v_new');
  cached = b.build();
  return cached;
}

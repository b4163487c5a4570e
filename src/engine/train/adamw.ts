// AdamW as one shape-generic graph, run once per parameter tensor: decoupled weight decay,
// bias-corrected moments, as torch.optim.AdamW.
import { GraphBuilder } from '../graph/builder';
import type { Graph } from '../graph/ir';
import type { MemoryKind } from '../memory/accountant';
import type { Runtime, Tensor } from '../runtime/runtime';
import { ADAMW_CONSTANTS, DEFAULT_SETTINGS } from '../settings';
import { UserError } from '../errors';

export interface AdamWSettings {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** The settings' learning rate and torch.optim.AdamW's constants. */
export const ADAMW_DEFAULTS: AdamWSettings = { lr: DEFAULT_SETTINGS.lr, ...ADAMW_CONSTANTS };

/** Refuses a learning rate that is not a positive finite number (a negative one climbs the loss instead of descending it). */
export function checkLearningRate(lr: number): void {
  if (!(Number.isFinite(lr) && lr > 0)) throw new UserError(`The learning rate (--lr) must be a positive number such as ${DEFAULT_SETTINGS.lr}, got ${lr}.`);
}

/**
 * The learning rate's multiplier at optimizer step `step` (1-based) of `total`, as transformers'
 * get_constant_schedule_with_warmup / get_cosine_schedule_with_warmup (whose LambdaLR is read at
 * the 0-based count of steps already taken, so a warm-up's first step has a rate of 0).
 */
export function scheduleFactor(schedule: 'constant' | 'cosine', warmup: number, total: number, step: number): number {
  const done = step - 1;
  if (done < warmup) return done / Math.max(1, warmup);
  if (schedule === 'constant') return 1;
  const progress = (done - warmup) / Math.max(1, total - warmup);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** Refuses a schedule a run cannot use, in one sentence. */
export function checkSchedule(s: { warmup: number; weightDecay: number; steps: number }): void {
  if (!(Number.isInteger(s.warmup) && s.warmup >= 0)) throw new UserError(`The warm-up must be a whole number of steps, 0 or more (--warmup), got ${s.warmup}.`);
  if (s.warmup >= s.steps && s.steps > 0) throw new UserError(`A warm-up of ${s.warmup} steps leaves nothing of a ${s.steps}-step run at the full learning rate; use fewer warm-up steps (--warmup).`);
  if (!(s.weightDecay >= 0 && s.weightDecay < 1)) throw new UserError(`The weight decay (--weight-decay) must be in [0, 1), got ${s.weightDecay}.`);
}

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

const normGraphs = new Map<number, Graph>();

/** Inputs g0 … g(n−1), each (R, C); output `norm`, the global L2 norm of them all (as torch's clip_grad_norm_ measures it). */
export function gradNormGraph(n: number): Graph {
  let g = normGraphs.get(n);
  if (g) return g;
  const b = new GraphBuilder(`grad-norm-${n}`);
  const squares = Array.from({ length: n }, (_, i) => {
    const x = b.input(`g${i}`, 'float32', [`R${i}`, `C${i}`]);
    return b.reduceSum(b.mul(x, x), [0, 1], false);
  });
  b.output(b.sqrt(squares.reduce((a, x) => b.add(a, x))), 'norm');
  g = b.build();
  normGraphs.set(n, g);
  return g;
}

/** The global L2 norm of gradients still on the device, in one run; only the scalar comes back. */
export async function gradNorm(rt: Runtime, grads: Tensor[]): Promise<number> {
  if (grads.length === 0) return 0;
  const out = await rt.run(gradNormGraph(grads.length), Object.fromEntries(grads.map((g, i) => [`g${i}`, g])));
  const norm = await rt.readScalar(out.norm);
  rt.dispose(out.norm);
  return norm;
}

/** The settings of one AdamW step (1-based) with its bias corrections. */
export function adamwStepValues(o: AdamWSettings, step: number): AdamWSettings & { bc1: number; bc2: number } {
  return { ...o, bc1: 1 - o.beta1 ** step, bc2: 1 - o.beta2 ** step };
}

/** The scalar inputs of the AdamW graph for one step (1-based). */
export function adamwHyper(rt: Runtime, o: AdamWSettings, step: number): Record<string, Tensor> {
  const scalar = (x: number) => rt.tensor('float32', Float32Array.of(x), []);
  const v = adamwStepValues(o, step);
  return {
    lr: scalar(v.lr), beta1: scalar(v.beta1), beta2: scalar(v.beta2), eps: scalar(v.eps), wd: scalar(v.weightDecay),
    bc1: scalar(v.bc1), bc2: scalar(v.bc2),
  };
}

/** One AdamW update of a parameter and its moments in place (the old tensors are freed; the gradient is not). */
export async function adamwApply(rt: Runtime, p: { value: Tensor; m: Tensor; v: Tensor }, grad: Tensor, hyper: Record<string, Tensor>, kind: MemoryKind): Promise<void> {
  const out = await rt.run(adamwGraph(), { p: p.value, g: grad, m: p.m, v: p.v, ...hyper });
  for (const old of [p.value, p.m, p.v]) rt.dispose(old);
  p.value = out.p_new;
  p.m = out.m_new;
  p.v = out.v_new;
  rt.memory.track(p.value, kind);
  rt.memory.track(p.m, 'optimizer');
  rt.memory.track(p.v, 'optimizer');
}

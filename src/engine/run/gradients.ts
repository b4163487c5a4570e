// Loss and LoRA gradients of one batch, read back to the host (checks against references).
import type { TokenSelector } from '../train/selection';
import type { Trainer } from '../train/trainer';

export async function gradients(trainer: Trainer, inputIds: number[][], selector: TokenSelector) {
  const rt = trainer.rt;
  const runs = rt.kernelRuns;
  const { loss, tokens, grads } = await trainer.lossAndGrads(inputIds, selector);
  // Where the LoRA factors and the gradients live between runs ('gpu-buffer' under WebGPU).
  const locations = [...new Set([trainer.params[0].value.location, ...[...grads.values()].map((g) => g.location)])];
  const out: Record<string, Float32Array> = {};
  const shapes: Record<string, number[]> = {};
  for (const p of trainer.params) {
    const t = grads.get(p.peft)!;
    out[p.peft] = Float32Array.from((await rt.read(t)) as Float32Array);
    shapes[p.peft] = [...p.shape];
    rt.dispose(t);
  }
  return { loss, tokens, grads: out, shapes, locations, kernelRuns: rt.kernelRunsSince(runs), headChunks: trainer.headChunks() };
}

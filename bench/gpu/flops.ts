// Useful floating-point operations of one dense LoRA step (batch 1, T tokens) of a Llama-family
// model: what any implementation must compute, counting a multiply-add as 2.
//  - frozen linear maps (in×out): forward 2·T·in·out, input gradient 2·T·in·out (no weight gradient);
//  - LoRA factors on q/k/v/o (r): forward, input and weight gradients, 6·T·r·(in+out);
//  - causal attention per layer: q·kᵀ and p·v over the lower triangle, forward 2·T²·d, backward twice that;
//  - the LM head like a frozen linear map.
// Norms, activations, softmax and the optimizer are left out (they are not matrix work).
import type { ModelConfig } from '../../src/engine/node';

export function usefulFlops(cfg: ModelConfig, T: number, loraR: number): number {
  const h = cfg.hidden;
  const qd = cfg.heads * cfg.headDim;
  const kvd = cfg.kvHeads * cfg.headDim;
  const linears: [number, number][] = [[h, qd], [h, kvd], [h, kvd], [qd, h], [h, cfg.intermediate], [h, cfg.intermediate], [cfg.intermediate, h]];
  const lora: [number, number][] = [[h, qd], [h, kvd], [h, kvd], [qd, h]];
  let perLayer = 0;
  for (const [i, o] of linears) perLayer += 4 * T * i * o;
  for (const [i, o] of lora) perLayer += 6 * T * loraR * (i + o);
  perLayer += 3 * 2 * T * T * qd;
  return cfg.layers * perLayer + 4 * T * h * cfg.vocabSize;
}

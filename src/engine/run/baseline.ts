// The dense baseline the memory chart draws beside a token-eliminating run.
import type { EngineEvent } from '../events';
import type { LoraConfig } from '../model/lora';
import type { DeviceModel } from '../train/device-model';
import { Trainer } from '../train/trainer';

/** One dense loss-and-gradient pass on the first window, measured by the accountant. */
export async function measureBaseline(dm: DeviceModel, lora: LoraConfig, seed: number, batch: number[][], emit: (e: EngineEvent) => void): Promise<void> {
  const rt = dm.rt;
  const dense = await Trainer.create(dm, dm.model, lora, { seed });
  rt.memory.resetPeaks();
  const { grads } = await dense.lossAndGrads(batch);
  for (const g of grads.values()) rt.dispose(g);
  const m = rt.memory;
  emit({ type: 'baseline', peakTotal: m.peakTotal, peakSplit: { ...m.peakSplit }, source: 'a dense step on the first window, measured by the accountant' });
  dense.dispose();
}

// The pattern predictors a session holds: the file's contents on the host, uploaded to the
// device when a run first needs them.
import type { ModelConfig } from '../model/config';
import type { Runtime } from '../runtime/runtime';
import { DevicePredictors, PredictorSet } from './predictor';

/** What a loaded predictors file holds, for the shells to show. */
export interface PredictorSummary {
  block: number;
  parameters: number;
  bytes: number;
  layers: number;
  /** Recall per layer the file reports from its training, if any. */
  recall: (number | null)[] | null;
}

export class LoadedPredictors {
  private device: DevicePredictors | null = null;

  constructor(readonly set: PredictorSet) {}

  /** Reads a predictors file and checks it belongs to the model. */
  static fromBytes(bytes: Uint8Array, fileName: string, cfg: ModelConfig): LoadedPredictors {
    const set = PredictorSet.fromBytes(bytes, fileName);
    set.checkModel(cfg);
    return new LoadedPredictors(set);
  }

  summary(bytes = this.set.toBytes().byteLength): PredictorSummary {
    const r = (this.set.config.training as { recall?: (number | null)[] } | undefined)?.recall;
    return { block: this.set.config.block, parameters: this.set.parameterCount, bytes, layers: this.set.config.layers.length, recall: r ?? null };
  }

  async onDevice(rt: Runtime, cfg: ModelConfig): Promise<DevicePredictors> {
    this.device ??= await DevicePredictors.upload(rt, this.set, cfg);
    return this.device;
  }

  dispose(): void {
    this.device?.dispose();
    this.device = null;
  }
}

// A shipped model cut to its first layers, for checks on SwiftShader's WebGPU whose subject is
// not the layers (the embedding table, the LM head, the widening of 2-byte weights): lemo-tiny's
// one-layer pass took about a fifth less than its six layers' (the head and the compiles are most
// of the rest). The tensors kept are the file's own bytes, in their own dtype.
import { readSafetensorsHeader, writeSafetensors, type StWrite } from '../src/engine/model/safetensors';

/** config.json and model.safetensors of the model under `base` (a URL), with only layers below `layers`. */
export async function firstLayers(base: string, layers: number): Promise<{ config: Record<string, unknown>; weights: Uint8Array }> {
  const config = (await (await fetch(`${base}/config.json`)).json()) as Record<string, unknown>;
  const bytes = new Uint8Array(await (await fetch(`${base}/model.safetensors`)).arrayBuffer());
  const h = readSafetensorsHeader(bytes);
  const kept = new Map<string, StWrite>();
  for (const e of h.entries) {
    const layer = /^model\.layers\.(\d+)\./.exec(e.name);
    if (layer && Number(layer[1]) >= layers) continue;
    kept.set(e.name, { shape: e.shape, dtype: e.dtype, raw: bytes.subarray(h.dataStart + e.start, h.dataStart + e.end) });
  }
  return { config: { ...config, num_hidden_layers: layers }, weights: writeSafetensors(kept) };
}

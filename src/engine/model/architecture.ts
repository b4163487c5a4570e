// The families as graph builders (what differs between them is in families.ts). A layer graph is weight-free and shape-generic
// (symbolic B and T): every layer of a model runs through the same session, fed its own
// weights. Module names follow Hugging Face so PEFT's target_modules and tensor names apply.
import { GraphBuilder } from '../graph/builder';
import type { DType } from '../graph/ir';
import type { LinearSpec } from './blocks';
import type { ModelConfig } from './config';
import { familyOf, normParams, type ModuleSpec } from './families';

export type { ModuleSpec } from './families';

export function layerPrefix(cfg: ModelConfig, layer: number): string {
  return familyOf(cfg).layerPrefix(layer);
}

export function layerModules(cfg: ModelConfig): ModuleSpec[] {
  return familyOf(cfg).modules(cfg);
}

/** Norm parameters of one layer (names inside the layer) with their sizes. */
export function layerNorms(cfg: ModelConfig): { name: string; size: number }[] {
  const f = familyOf(cfg);
  return [...normParams(f.inputNorm), ...normParams(f.postAttentionNorm)].map((name) => ({ name, size: cfg.hidden }));
}

export function specs(cfg: ModelConfig, lora: { r: number; scale: number } | null, targeted: Set<string>): Map<string, LinearSpec> {
  return new Map(layerModules(cfg).map((m) => [m.name, {
    name: m.name, in: m.in, out: m.out, bias: m.bias,
    lora: lora && targeted.has(m.name) ? { r: lora.r, scale: lora.scale } : null,
  }]));
}

/** Token (and, where the family learns them, position) embeddings: ids (B, T) → h (B, T, C). */
export function buildEmbed(cfg: ModelConfig, dtype: DType): GraphBuilder {
  const b = new GraphBuilder(`${cfg.family}_embed`);
  const ids = b.input('ids', 'int64', ['B', 'T']);
  // The tables' rows are symbolic: a 2-byte table is fed only the rows a batch looks up.
  const table = b.input('embed', dtype, ['V', cfg.hidden]);
  let h = b.op1('Gather', [table, ids], { axis: 0 });
  if (familyOf(cfg).positionsTensor) {
    const positions = b.input('positions', 'int64', ['T']);
    const wpe = b.input('wpe', dtype, ['P', cfg.hidden]);
    h = b.add(h, b.op1('Gather', [wpe, positions], { axis: 0 }));
  }
  b.output(h, 'h');
  return b;
}


// The engine's public face: what the shells (the CLI, the worker, the benchmarks) use. Its rooms
// stay behind it.
export { UserError } from './errors';
export type * from './events';
export * from './settings';
export { EngineSession, type AdapterFiles, type HeldOut, type PredictorSummary, type RunOptions } from './session';
export { Runtime, WEBGPU_TRANSIENT_BUDGET, type Ort, type Provider } from './runtime/runtime';
export { MEMORY_KINDS, type MemoryKind } from './memory/accountant';
export { gpuBufferBytes, installGpuBufferTracker, installWasmMemoryTracker, wasmHeapBytes } from './runtime/device-memory';
export { GraphBuilder } from './graph/builder';
export type { ModelConfig } from './model/config';
export type { ModelFiles } from './model/model';
export { readSafetensors, writeSafetensors, type MemoryBudget } from './model/safetensors';
export { decodeDataset, parseDataset, type Document } from './train/data';
export { artifactPolicy, parsePolicy } from './sparsity/policy';
export { defaultSizes, PredictorSet } from './sparsity/predictor';
export { meanRecall, type PredictorProgress } from './sparsity/predictor-train';
export type { Sparsity } from './sparsity/selectors';
export type { BenchRow } from './run/bench';
export { decodeCheckpoint, type Checkpoint } from './run/checkpoint';
export { evalChunks } from './run/evaluate';
export { COPIED_FILES, mergeAdapter, type FolderFile } from './export/merged';
export { parseAdapterConfig } from './model/lora';
export { zipFolder } from './export/zip';

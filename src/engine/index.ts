// The engine's public face: what the shells (the CLI, the worker, the benchmarks) use. Its rooms
// stay behind it.
export { RunStopped, UserError } from './errors';
export type * from './events';
export * from './settings';
export { EngineSession } from './session';
export type { AdapterFiles, HeldOut, RunOptions } from './run/options';
export type { PredictorSummary } from './sparsity/loaded';
export { Runtime, WEBGPU_TRANSIENT_BUDGET, type Ort, type Provider } from './runtime/runtime';
export { MEMORY_KINDS, type MemoryKind } from './memory/accountant';
export { gpuBufferBytes, installGpuBufferTracker, installWasmMemoryTracker, wasmHeapBytes } from './runtime/device-memory';
export { GraphBuilder } from './graph/builder';
export type { ModelConfig } from './model/config';
export type { ModelFiles } from './model/model';
export { readSafetensors, writeSafetensors, type MemoryBudget } from './model/safetensors';
export { decodeDataset, parseDataset, type Document } from './train/data';
export { artifactPolicy, parsePolicy, type LayerPolicy } from './sparsity/policy';
export { isPolicyFile, parsePolicyFile, policyEntry, policyFileJson, type PolicyFile } from './sparsity/policy-file';
export { runPolicy, type PolicySource, type RunPolicy } from './sparsity/run-policy';
export type { LayerTuning, TunePlan, TuneProgress, TuneResult } from './sparsity/policy-tune';
export { defaultSizes, PredictorSet } from './sparsity/predictor';
export { meanRecall, type PredictorProgress } from './sparsity/predictor-train';
export type { Sparsity } from './sparsity/selectors';
export type { BenchRow } from './run/bench';
export { decodeCheckpoint, type Checkpoint } from './run/checkpoint';
export { evalChunks } from './run/evaluate';
export { COPIED_FILES, mergeAdapter, type FolderFile } from './export/merged';
export { parseAdapterConfig } from './model/lora';
export { zipFolder } from './export/zip';

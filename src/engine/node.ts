// The engine's public face for Node shells: the same as index.ts, and onnxruntime for Node.
export * from './index';
export { loadOrtForNode, type NodeBackend } from './runtime/ort-node';

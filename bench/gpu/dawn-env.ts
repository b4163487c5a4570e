/// <reference types="@webgpu/types" />
// WebGPU in Node through Dawn (the `webgpu` npm package's dawn.node) and onnxruntime-web's JSEP
// build on it: what bench/gpu/run.ts and bench/gpu/graph-check.ts share. On a machine without a
// GPU, Dawn runs on Chromium's SwiftShader (LD_LIBRARY_PATH=/usr/lib/chromium
// VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import type { Ort } from '../../src/engine/node';

/** The options every Dawn-in-Node script takes: dawn.node, onnxruntime-web's JSEP bundle and its wasm. */
export function dawnOptions(c: Command): Command {
  return c
    .requiredOption('--dawn <file>', 'dawn.node from the webgpu package')
    .requiredOption('--ort <file>', "onnxruntime-web's JSEP bundle (ort.bundle.min.mjs)")
    .requiredOption('--wasm <file>', 'ort-wasm-simd-threaded.jsep.wasm');
}

export type Dawn = { create(flags: string[]): GPU; globals: Record<string, unknown> };

/** Installs Dawn's globals and navigator.gpu; returns the module and its GPU. */
export function installDawn(file: string, flags: string[]): { dawn: Dawn; gpu: GPU } {
  const dawn = createRequire(import.meta.url)(resolve(file)) as Dawn;
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create(flags);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  // Dawn's writeBuffer rejects a SharedArrayBuffer (onnxruntime's wasm heap, which it passes
  // whole with an offset and a size): copy just that range into a plain buffer.
  const queueProto = (dawn.globals.GPUQueue as { prototype: GPUQueue }).prototype;
  const writeBuffer = queueProto.writeBuffer as (this: GPUQueue, ...args: unknown[]) => undefined;
  queueProto.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: unknown, dataOffset?: number, size?: number) {
    if (data instanceof SharedArrayBuffer) {
      const from = dataOffset ?? 0;
      return writeBuffer.call(this, buffer, offset, new Uint8Array(data, from, size ?? data.byteLength - from).slice());
    }
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      // For typed arrays, dataOffset and size count elements.
      const el = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
      const from = data.byteOffset + (dataOffset ?? 0) * el;
      const bytes = size !== undefined ? size * el : data.byteLength - (dataOffset ?? 0) * el;
      return writeBuffer.call(this, buffer, offset, new Uint8Array(data.buffer, from, bytes).slice());
    }
    return dataOffset === undefined ? writeBuffer.call(this, buffer, offset, data) : writeBuffer.call(this, buffer, offset, data, dataOffset, size);
  } as GPUQueue['writeBuffer'];
  return { dawn, gpu };
}

/** onnxruntime-web's JSEP bundle, its wasm given as bytes, one thread. */
export async function loadOrt(bundle: string, wasm: string, verbose = false): Promise<Ort> {
  const ort = (await import(pathToFileURL(resolve(bundle)).href)) as Ort;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = new Uint8Array(readFileSync(resolve(wasm))).buffer;
  ort.env.logLevel = verbose ? 'verbose' : 'error';
  return ort;
}

// A dropped safetensors file read header-first in the worker: its header with File.slice(), each
// tensor's bytes only when the engine asks for them (FileReaderSync, which dedicated workers have,
// keeps WeightFile.read synchronous). No copy of the whole file is made, so a file past 2 GiB
// (one ArrayBuffer's limit) loads, and a model refused from its header is never read further.
import { readSafetensorsHeader, safetensorsHeaderLength, type WeightFile } from '../engine';

export function fileWeights(file: File): WeightFile {
  const reader = new FileReaderSync();
  const bytes = (start: number, end: number) => new Uint8Array(reader.readAsArrayBuffer(file.slice(start, end)));
  const length = safetensorsHeaderLength(bytes(0, 8), file.size, file.name);
  const header = readSafetensorsHeader(bytes(0, 8 + length), file.name, file.size);
  return {
    name: file.name,
    size: file.size,
    header,
    read: (e) => bytes(header.dataStart + e.start, header.dataStart + e.end),
  };
}

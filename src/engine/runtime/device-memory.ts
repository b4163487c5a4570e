// What the device itself holds, for the memory dashboard beside the accountant's figures.
// WebGPU has no memory query: every GPUDevice's createBuffer and destroy are counted, which
// covers onnxruntime's own buffers. Installed before onnxruntime loads.

interface Counted {
  live: number;
  peak: number;
  /** The largest buffer created since resetGpuLargestBuffer(). */
  largest: number;
}

const gpu: Counted = { live: 0, peak: 0, largest: 0 };
let installed = false;

type Desc = { size: number };
type Buffer = { destroy(): void };
type Device = { createBuffer(d: Desc): Buffer };
type Adapter = { requestDevice(d?: unknown): Promise<Device> };

export function installGpuBufferTracker(): void {
  const g = globalThis as unknown as { GPUAdapter?: { prototype: Adapter } };
  if (installed || !g.GPUAdapter) return;
  installed = true;
  const proto = g.GPUAdapter.prototype;
  const requestDevice = proto.requestDevice;
  proto.requestDevice = async function (this: Adapter, d?: unknown) {
    const device = await requestDevice.call(this, d);
    const create = device.createBuffer.bind(device);
    device.createBuffer = (desc: Desc) => {
      const buf = create(desc);
      gpu.live += desc.size;
      gpu.peak = Math.max(gpu.peak, gpu.live);
      gpu.largest = Math.max(gpu.largest, desc.size);
      const destroy = buf.destroy.bind(buf);
      let alive = true;
      buf.destroy = () => {
        if (alive) gpu.live -= desc.size;
        alive = false;
        destroy();
      };
      return buf;
    };
    return device;
  };
}

/** Bytes in GPU buffers alive now. */
export function gpuBufferBytes(): number {
  return gpu.live;
}

/** Bytes of the largest GPU buffer created since resetGpuLargestBuffer() (or since the tracker was installed). */
export function gpuLargestBuffer(): number {
  return gpu.largest;
}

export function resetGpuLargestBuffer(): void {
  gpu.largest = 0;
}

// Under WASM the device is the module's linear memory: every WebAssembly.Memory created after
// this is installed (onnxruntime's heap, shared between its threads) is kept, and its size read.
// Linear memory grows and never shrinks, so the figure is the heap's high-water mark.
const memories: WebAssembly.Memory[] = [];
let wasmInstalled = false;

export function installWasmMemoryTracker(): void {
  if (wasmInstalled) return;
  wasmInstalled = true;
  const Memory = WebAssembly.Memory;
  const Tracked = function (descriptor: WebAssembly.MemoryDescriptor) {
    const m = new Memory(descriptor);
    if (descriptor.initial > 0) memories.push(m);
    return m;
  } as unknown as typeof WebAssembly.Memory;
  Tracked.prototype = Memory.prototype;
  (WebAssembly as { Memory: typeof WebAssembly.Memory }).Memory = Tracked;
}

/** Bytes of WASM linear memory allocated now. */
export function wasmHeapBytes(): number {
  return memories.reduce((a, m) => a + m.buffer.byteLength, 0);
}

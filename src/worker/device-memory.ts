// What the device itself holds, for the memory dashboard beside the accountant's figures.
// WebGPU has no memory query: every GPUDevice's createBuffer and destroy are counted, which
// covers onnxruntime's own buffers. Installed before onnxruntime loads.

interface Counted {
  live: number;
  peak: number;
}

const gpu: Counted = { live: 0, peak: 0 };
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

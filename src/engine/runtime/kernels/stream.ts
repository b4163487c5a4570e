/// <reference types="@webgpu/types" />
// The engine's kernels run on onnxruntime's GPU device, in its command stream. onnxruntime
// records its kernels into a command encoder it submits only every few dispatches (or when it
// reads a tensor back), so a kernel of ours submitted on its own could run before the session
// that produced its inputs. Instead, each of our dispatches joins the encoder onnxruntime has
// open (in its open compute pass, or a pass of its own on that encoder): the GPU then runs every
// kernel in the order the host asked for them, with no extra submit and no read back.
//
// install() wraps the WebGPU prototypes once, before onnxruntime creates its first encoder, to
// know which encoder and pass are open. Buffers our kernels release are destroyed after the next
// submit (the commands that read them may not have been submitted yet).

interface Open {
  encoder: GPUCommandEncoder | null;
  pass: GPUComputePassEncoder | null;
}

const open: Open = { encoder: null, pass: null };
/** Set while we create an encoder or pass of our own, so it is not taken for onnxruntime's. */
let ours = false;
/** Work waiting for the next submit (a buffer to destroy, a pooled buffer becoming reusable). */
const onSubmit: (() => void)[] = [];
let installed = false;

type Proto<T> = { prototype: T };

/** Wraps the WebGPU prototypes (idempotent). Returns false where WebGPU has no globals. */
export function installStream(): boolean {
  const g = globalThis as unknown as {
    GPUDevice?: Proto<GPUDevice>; GPUCommandEncoder?: Proto<GPUCommandEncoder>; GPUComputePassEncoder?: Proto<GPUComputePassEncoder>; GPUQueue?: Proto<GPUQueue>;
  };
  if (installed) return true;
  if (!g.GPUDevice || !g.GPUCommandEncoder || !g.GPUComputePassEncoder || !g.GPUQueue) return false;
  installed = true;
  const device = g.GPUDevice.prototype;
  const createCommandEncoder = device.createCommandEncoder;
  device.createCommandEncoder = function (this: GPUDevice, d?: GPUCommandEncoderDescriptor) {
    const e = createCommandEncoder.call(this, d);
    if (!ours) [open.encoder, open.pass] = [e, null];
    return e;
  };
  const encoder = g.GPUCommandEncoder.prototype;
  const beginComputePass = encoder.beginComputePass;
  encoder.beginComputePass = function (this: GPUCommandEncoder, d?: GPUComputePassDescriptor) {
    const p = beginComputePass.call(this, d);
    if (!ours && this === open.encoder) open.pass = p;
    return p;
  };
  const finish = encoder.finish;
  encoder.finish = function (this: GPUCommandEncoder, d?: GPUCommandBufferDescriptor) {
    if (this === open.encoder) [open.encoder, open.pass] = [null, null];
    return finish.call(this, d);
  };
  const pass = g.GPUComputePassEncoder.prototype;
  const end = pass.end;
  pass.end = function (this: GPUComputePassEncoder) {
    if (this === open.pass) open.pass = null;
    return end.call(this);
  };
  const queue = g.GPUQueue.prototype;
  const submit = queue.submit;
  queue.submit = function (this: GPUQueue, buffers: Iterable<GPUCommandBuffer>) {
    const r = submit.call(this, buffers);
    for (const f of onSubmit.splice(0)) f();
    return r;
  };
  return true;
}

/** Records one dispatch in the open stream (or submits it alone when nothing is open). */
export function dispatch(device: GPUDevice, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, x: number, y = 1, z = 1): void {
  const record = (p: GPUComputePassEncoder) => {
    p.setPipeline(pipeline);
    p.setBindGroup(0, bindGroup);
    p.dispatchWorkgroups(x, y, z);
  };
  if (open.pass) return record(open.pass);
  asOurs(() => {
    const e = open.encoder ?? device.createCommandEncoder();
    const p = e.beginComputePass();
    record(p);
    p.end();
    if (e !== open.encoder) device.queue.submit([e.finish()]);
  });
}

/** Runs f with the encoders and passes it makes taken as ours, not onnxruntime's. */
function asOurs(f: () => void): void {
  ours = true;
  try {
    f();
  } finally {
    ours = false;
  }
}

/** Destroys a buffer once the commands recorded so far are submitted. */
export function release(buffer: GPUBuffer): void {
  afterNextSubmit(() => buffer.destroy());
}

/** Runs f after the next submit, or now when nothing is recorded and not yet submitted. */
export function afterNextSubmit(f: () => void): void {
  if (open.encoder) onSubmit.push(f);
  else f();
}

/** True while onnxruntime (or a dispatch) has commands recorded and not yet submitted. */
export function pending(): boolean {
  return open.encoder !== null;
}

/** Copies `bytes` of a buffer out to the host, once everything recorded before has been submitted. */
export async function readBack(device: GPUDevice, src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  return (await readBackMany(device, [{ buffer: src, bytes }]))[0];
}

/**
 * Copies the first `bytes` (a multiple of 4) of each buffer out to the host through one staging
 * buffer: one submit and one wait for the queue for all of them.
 */
export async function readBackMany(device: GPUDevice, parts: { buffer: GPUBuffer; bytes: number }[]): Promise<ArrayBuffer[]> {
  const offsets: number[] = [];
  let size = 0;
  for (const p of parts) {
    offsets.push(size);
    size += Math.ceil(p.bytes / 16) * 16;
  }
  const staging = device.createBuffer({ size: Math.max(16, size), usage: 0x1 | 0x8 /* MAP_READ | COPY_DST */ });
  asOurs(() => {
    const e = device.createCommandEncoder();
    parts.forEach((p, i) => e.copyBufferToBuffer(p.buffer, 0, staging, offsets[i], p.bytes));
    device.queue.submit([e.finish()]);
  });
  await staging.mapAsync(1 /* GPUMapMode.READ */);
  const mapped = staging.getMappedRange();
  const out = parts.map((p, i) => mapped.slice(offsets[i], offsets[i] + p.bytes));
  staging.destroy();
  return out;
}

/**
 * Records f's dispatches in one compute pass: onnxruntime's open pass, a pass of ours on its open
 * encoder, or an encoder of ours submitted when f returns.
 */
export function batch(device: GPUDevice, f: () => void): void {
  if (open.pass) return f();
  let encoder: GPUCommandEncoder | null = null;
  let pass: GPUComputePassEncoder | null = null;
  asOurs(() => {
    encoder = open.encoder ? null : device.createCommandEncoder();
    pass = (open.encoder ?? encoder!).beginComputePass();
  });
  const ownEncoder = encoder as GPUCommandEncoder | null;
  if (ownEncoder) open.encoder = ownEncoder;
  open.pass = pass;
  try {
    f();
  } finally {
    pass!.end();
    if (ownEncoder) {
      const buffer = ownEncoder.finish();
      device.queue.submit([buffer]);
    }
  }
}

/// <reference types="@webgpu/types" />
// The WebGPU matrix-multiply ceiling: a plain tiled float32 kernel (64×64 output tile per
// workgroup of 16×16 threads, 4×4 outputs per thread, K in steps of 16), checked against a
// float64 product on the host at a small size, then timed at n×n×n on its own device.
const SHADER = /* wgsl */ `
struct Dims { M: u32, N: u32, K: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;
var<workgroup> As: array<array<f32, 64>, 16>;
var<workgroup> Bs: array<array<f32, 64>, 16>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  let tid = lid.y * 16u + lid.x;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < dims.K; k0 += 16u) {
    for (var i = 0u; i < 4u; i++) {
      let idx = tid + i * 256u;
      let m = idx / 16u;
      let k = idx % 16u;
      As[k][m] = A[(row0 + m) * dims.K + k0 + k];
      let kk = idx / 64u;
      let n = idx % 64u;
      Bs[kk][n] = B[(k0 + kk) * dims.N + col0 + n];
    }
    workgroupBarrier();
    for (var k = 0u; k < 16u; k++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = As[k][lid.y * 4u + i];
        b[i] = Bs[k][lid.x * 4u + i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      C[(row0 + lid.y * 4u + i) * dims.N + col0 + lid.x * 4u + j] = acc[i][j];
    }
  }
}`;

export interface CeilingResult {
  n: number;
  msPerProduct: number;
  gflops: number;
  checkRelErr: number;
  times: number[];
}

export async function wgslMatmulCeiling(adapter: GPUAdapter, n: number, log: (s: string) => void): Promise<CeilingResult> {
  const device = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize: Math.min(adapter.limits.maxStorageBufferBindingSize, 2 ** 31 - 4), maxBufferSize: Math.min(adapter.limits.maxBufferSize, 2 ** 32) } });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: SHADER }), entryPoint: 'main' } });
  const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

  const setup = (size: number) => {
    const a = Float32Array.from({ length: size * size }, () => Math.random() * 2 - 1);
    const b = Float32Array.from({ length: size * size }, () => Math.random() * 2 - 1);
    const buf = (data: Float32Array<ArrayBuffer> | null, bytes: number) => {
      const g = device.createBuffer({ size: bytes, usage: S });
      if (data) device.queue.writeBuffer(g, 0, data);
      return g;
    };
    const A = buf(a, a.byteLength);
    const B = buf(b, b.byteLength);
    const C = buf(null, size * size * 4);
    // Poison C so an unwritten element shows.
    device.queue.writeBuffer(C, 0, new Float32Array(size * size).fill(Number.NaN));
    const U = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(U, 0, Uint32Array.of(size, size, size, 0));
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [A, B, C, U].map((buffer, binding) => ({ binding, resource: { buffer } })) });
    const dispatch = (count: number) => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      for (let i = 0; i < count; i++) pass.dispatchWorkgroups(size / 64, size / 64);
      pass.end();
      device.queue.submit([enc.finish()]);
    };
    return { a, b, C, dispatch, free: () => [A, B, C, U].forEach((x) => x.destroy()) };
  };

  // Correctness at 256: every element against a float64 product.
  const m = 256;
  const small = setup(m);
  small.dispatch(1);
  const read = device.createBuffer({ size: m * m * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(small.C, 0, read, 0, m * m * 4);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const got = new Float32Array(read.getMappedRange().slice(0));
  read.unmap();
  let num = 0;
  let den = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += small.a[i * m + k] * small.b[k * m + j];
      num += (got[i * m + j] - s) ** 2;
      den += s * s;
    }
  }
  const checkRelErr = Number.isFinite(num) ? Math.sqrt(num / den) : Number.NaN;
  small.free();
  if (!(checkRelErr < 1e-5)) throw new Error(`The WGSL matmul kernel is wrong: relative error ${checkRelErr} at ${m}.`);

  const big = setup(n);
  const reps = 10;
  big.dispatch(3);
  await device.queue.onSubmittedWorkDone();
  const times: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    big.dispatch(reps);
    await device.queue.onSubmittedWorkDone();
    times.push((performance.now() - t0) / reps);
  }
  big.free();
  device.destroy();
  const msPerProduct = [...times].sort((p, q) => p - q)[Math.floor(times.length / 2)];
  const gflops = (2 * n ** 3) / (msPerProduct / 1e3) / 1e9;
  log(`WGSL tiled matmul ${n}³: ${msPerProduct.toFixed(2)} ms, ${gflops.toFixed(0)} GFLOP/s (check ${checkRelErr.toExponential(1)})`);
  return { n, msPerProduct, gflops, checkRelErr, times };
}

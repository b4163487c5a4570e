// A copy between two storage buffers as a dispatch: it can join onnxruntime's open compute pass
// (a copy command cannot), so it keeps its place among the kernels around it (stream.ts).

/** One thread per 16 bytes: dst[i] = src[i] for i below the shorter buffer's length. */
export const copyWgsl = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let i = (wg.y * nw.x + wg.x) * 256u + l;
  if (i < min(arrayLength(&src), arrayLength(&dst))) {
    dst[i] = src[i];
  }
}
`;

// Widening of 2-byte weights (bfloat16, IEEE half) to float32 on the GPU, without shader-f16:
// the bits come packed in pairs in u32 words (little-endian: the first value in the low half).

/** One thread per value: dst[i] = the float32 value of src's i-th 16-bit half (kind 0: bf16, 1: f16). */
export const widenWgsl = /* wgsl */ `
struct Params { n: u32, kind: u32, width: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

// IEEE half bits to float32 bits: normal, zero, subnormal (renormalised), infinity and NaN.
fn halfBits(h: u32) -> u32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  var m = h & 0x3ffu;
  if (e == 0x1fu) { return s | 0x7f800000u | (m << 13u); }
  if (e != 0u) { return s | ((e + 112u) << 23u) | (m << 13u); }
  if (m == 0u) { return s; }
  var x = 113u;
  loop {
    if ((m & 0x400u) != 0u) { break; }
    m = m << 1u;
    x = x - 1u;
  }
  return s | (x << 23u) | ((m & 0x3ffu) << 13u);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.y * p.width + id.x;
  if (i >= p.n) { return; }
  let word = src[i >> 1u];
  let h = select(word & 0xffffu, word >> 16u, (i & 1u) == 1u);
  dst[i] = select(h << 16u, halfBits(h), p.kind == 1u);
}
`;

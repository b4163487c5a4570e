// WGSL of causal attention over rows in ascending original positions (every row of a dense
// layer, or the kept rows of a token-eliminating one), flash style: no rows × rows tensor, an
// online softmax in the forward, scores recomputed tile by tile in the backward. One thread
// owns one query row (forward, dQ) or one key row (dK, dV); tiles of the other side pass
// through workgroup memory. Masking is by original position (a key later than the query is
// hidden), and with shifted sparse attention by group, per head, as LongLoRA's S²-Attn.
//
// Layouts: q (B, H, N, D), k and v (B, KV, N, D), o (B, H, N, D), lse and delta (B, H, N);
// meta (N + ceil(N / ROWS)): the rows' original positions, then for each query tile the first key
// row it may see (0, or the start of its earliest group under S²-Attn); stats (B, H, N) of
// vec2 (lse, delta), delta = rowsum(dO ∘ o). At most 8 storage buffers a kernel, WebGPU's default.

/** Threads per workgroup: query rows of a forward or dQ tile, key rows of a dK/dV tile. */
export const ROWS = 64;

const header = (D: number, tile: number) => /* wgsl */ `
const D4: u32 = ${D / 4}u;
const ROWS: u32 = ${ROWS}u;
const TILE: u32 = ${tile}u;
struct Params { n: u32, heads: u32, kvHeads: u32, chunkLen: u32, chunks: u32, group: f32, scale: f32, pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> pos: array<u32>;
fn start(tile: u32) -> u32 { return pos[P.n + tile]; }

fn visible(kp: u32, qp: u32, h: u32) -> bool {
  if (kp > qp) { return false; }
  if (P.group == 0.0) { return true; }
  let shift = select(0.0, P.group * 0.5, 2u * h >= P.heads);
  return floor((f32(kp) + shift) / P.group) == floor((f32(qp) + shift) / P.group);
}
fn sum4(a: vec4f) -> f32 { return (a.x + a.y) + (a.z + a.w); }
// A workgroup covers one chunk of the other side's rows (chunkLen of them, the whole of it when
// chunks is 1): split so that short contexts still give the GPU enough threads.
fn chunkOf(z: u32) -> u32 { return z % P.chunks; }
fn batchOf(z: u32) -> u32 { return z / P.chunks; }
`;

/** Loads TILE key rows (from k0) of k and v into workgroup memory, with their positions. */
const loadKeys = /* wgsl */ `
fn loadKeys(k0: u32, hi: u32, kbase: u32, li: u32) {
  let n = P.n;
  for (var e = li; e < TILE * D4; e += ROWS) {
    let src = (kbase + min(k0 + e / D4, n - 1u)) * D4 + e % D4;
    kt[e] = k[src];
    vt[e] = v[src];
  }
  if (li < TILE) { kpos[li] = select(0xffffffffu, pos[min(k0 + li, n - 1u)], k0 + li < hi); }
}
`;

const keyTiles = /* wgsl */ `
@group(0) @binding(3) var<storage, read> k: array<vec4f>;
@group(0) @binding(4) var<storage, read> v: array<vec4f>;
var<workgroup> kt: array<vec4f, TILE * D4>;
var<workgroup> vt: array<vec4f, TILE * D4>;
var<workgroup> kpos: array<u32, TILE>;
`;

/** A query-row thread's coordinates (forward and dq): head, batch, chunk, row, and where its q and its keys start. */
const queryRow = /* wgsl */ `
  let n = P.n;
  let h = wg.y;
  let b = batchOf(wg.z);
  let ch = chunkOf(wg.z);
  let i = wg.x * ROWS + li;
  let row = min(i, n - 1u);
  let qbase = ((b * P.heads + h) * n + row) * D4;
  let kbase = (b * P.kvHeads + h / (P.heads / P.kvHeads)) * n;`;

/**
 * Opens the loop over the key tiles a query tile sees within its chunk, and over each tile's keys
 * four at a time (sixteen independent chains of multiply-adds a thread); closed by the kernel.
 */
const keyTiles4 = /* wgsl */ `
  let hi = min(min(n, wg.x * ROWS + ROWS), (ch + 1u) * P.chunkLen);
  for (var k0 = max(start(wg.x), ch * P.chunkLen); k0 < hi; k0 += TILE) {
    workgroupBarrier();
    loadKeys(k0, hi, kbase, li);
    workgroupBarrier();
    for (var j = 0u; j < TILE; j += 4u) {
      let vis = vec4<bool>(visible(kpos[j], qp, h), visible(kpos[j + 1u], qp, h), visible(kpos[j + 2u], qp, h), visible(kpos[j + 3u], qp, h));
      if (!any(vis)) { continue; }`;

const forwardMain = /* wgsl */ `
@group(0) @binding(2) var<storage, read> q: array<vec4f>;
// One chunk: o and lse; several: each chunk's unnormalised o and (max, sum) per row, (B, chunks, H, N).
@group(0) @binding(5) var<storage, read_write> o: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
${queryRow}
  var qr: array<vec4f, D4>;
  var acc: array<vec4f, D4>;
  for (var c = 0u; c < D4; c++) { qr[c] = q[qbase + c] * P.scale; }
  let qp = pos[row];
  var m = -1e30;
  var l = 0.0;
${keyTiles4}
      var a0 = vec4f();
      var a1 = vec4f();
      var a2 = vec4f();
      var a3 = vec4f();
      for (var c = 0u; c < D4; c++) {
        let x = qr[c];
        a0 += x * kt[j * D4 + c];
        a1 += x * kt[(j + 1u) * D4 + c];
        a2 += x * kt[(j + 2u) * D4 + c];
        a3 += x * kt[(j + 3u) * D4 + c];
      }
      let s = select(vec4f(-1e30), vec4f(sum4(a0), sum4(a1), sum4(a2), sum4(a3)), vis);
      let mx = max(max(s.x, s.y), max(s.z, s.w));
      if (mx > m) {
        let corr = exp(m - mx);
        l *= corr;
        for (var c = 0u; c < D4; c++) { acc[c] *= corr; }
        m = mx;
      }
      let p = select(vec4f(), exp(s - vec4f(m)), vis);
      l += sum4(p);
      for (var c = 0u; c < D4; c++) {
        acc[c] += p.x * vt[j * D4 + c] + p.y * vt[(j + 1u) * D4 + c] + p.z * vt[(j + 2u) * D4 + c] + p.w * vt[(j + 3u) * D4 + c];
      }
    }
  }
  if (i < n && P.chunks == 1u) {
    let inv = 1.0 / l;
    for (var c = 0u; c < D4; c++) { o[qbase + c] = acc[c] * inv; }
    lse[(b * P.heads + h) * n + i] = m + log(l);
  } else if (i < n) {
    let r = (wg.z * P.heads + h) * n + i;
    for (var c = 0u; c < D4; c++) { o[r * D4 + c] = acc[c]; }
    lse[2u * r] = m;
    lse[2u * r + 1u] = l;
  }
}
`;

/** Forward: o and the log-sum-exp of each query row's scores. */
export function forwardWgsl(D: number, tile: number): string {
  return header(D, tile) + keyTiles + loadKeys + forwardMain;
}

const backwardQueryMain = /* wgsl */ `
@group(0) @binding(2) var<storage, read> q: array<vec4f>;
@group(0) @binding(5) var<storage, read> stats: array<vec2f>;
@group(0) @binding(6) var<storage, read> dout: array<vec4f>;
// dq, or with several chunks each chunk's part, (B, chunks, H, N, D).
@group(0) @binding(7) var<storage, read_write> dq: array<vec4f>;

@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
${queryRow}
  var qr: array<vec4f, D4>;
  var dr: array<vec4f, D4>;
  var acc: array<vec4f, D4>;
  for (var c = 0u; c < D4; c++) {
    qr[c] = q[qbase + c] * P.scale;
    dr[c] = dout[qbase + c];
  }
  let qp = pos[row];
  let st = stats[(b * P.heads + h) * n + row];
  let ls = st.x;
  let dl = st.y;
${keyTiles4}
      var a0 = vec4f();
      var a1 = vec4f();
      var a2 = vec4f();
      var a3 = vec4f();
      var d0 = vec4f();
      var d1 = vec4f();
      var d2 = vec4f();
      var d3 = vec4f();
      for (var c = 0u; c < D4; c++) {
        let x = qr[c];
        let y = dr[c];
        a0 += x * kt[j * D4 + c];
        a1 += x * kt[(j + 1u) * D4 + c];
        a2 += x * kt[(j + 2u) * D4 + c];
        a3 += x * kt[(j + 3u) * D4 + c];
        d0 += y * vt[j * D4 + c];
        d1 += y * vt[(j + 1u) * D4 + c];
        d2 += y * vt[(j + 2u) * D4 + c];
        d3 += y * vt[(j + 3u) * D4 + c];
      }
      let s = vec4f(sum4(a0), sum4(a1), sum4(a2), sum4(a3));
      let dp = vec4f(sum4(d0), sum4(d1), sum4(d2), sum4(d3));
      let ds = select(vec4f(), exp(s - vec4f(ls)) * (dp - vec4f(dl)), vis);
      for (var c = 0u; c < D4; c++) {
        acc[c] += ds.x * kt[j * D4 + c] + ds.y * kt[(j + 1u) * D4 + c] + ds.z * kt[(j + 2u) * D4 + c] + ds.w * kt[(j + 3u) * D4 + c];
      }
    }
  }
  if (i < n) {
    let out = ((wg.z * P.heads + h) * n + i) * D4;
    for (var c = 0u; c < D4; c++) { dq[out + c] = acc[c] * P.scale; }
  }
}
`;

/** Backward for queries: dq. */
export function backwardQueryWgsl(D: number, tile: number): string {
  return header(D, tile) + keyTiles + loadKeys + backwardQueryMain;
}

const when = (on: boolean, s: string) => (on ? s : '');

/** Bindings and workgroup memory of the key kernel (only what its parts use, as 'auto' layouts require). */
const keyDecls = (K: boolean, V: boolean) => /* wgsl */ `
@group(0) @binding(2) var<storage, read> q: array<vec4f>;
@group(0) @binding(3) var<storage, read> k: array<vec4f>;
${when(K, '@group(0) @binding(4) var<storage, read> v: array<vec4f>;')}
@group(0) @binding(5) var<storage, read> stats: array<vec2f>;
@group(0) @binding(6) var<storage, read> dout: array<vec4f>;
${when(K, '@group(0) @binding(7) var<storage, read_write> dk: array<vec4f>;')}
${when(V, '@group(0) @binding(8) var<storage, read_write> dv: array<vec4f>;')}
var<workgroup> qt: array<vec4f, TILE * D4>;
var<workgroup> dt: array<vec4f, TILE * D4>;
var<workgroup> qs: array<vec2f, TILE>;
var<workgroup> qpos: array<u32, TILE>;
`;

/** Loads TILE query rows (from i0) of q and dO under head h, with their stats and positions. */
const loadQueries = /* wgsl */ `
fn loadQueries(i0: u32, hbase: u32, li: u32) {
  let n = P.n;
  for (var e = li; e < TILE * D4; e += ROWS) {
    let src = (hbase + min(i0 + e / D4, n - 1u)) * D4 + e % D4;
    qt[e] = q[src];
    dt[e] = dout[src];
  }
  if (li < TILE) {
    let r = min(i0 + li, n - 1u);
    qs[li] = stats[hbase + r];
    qpos[li] = pos[r];
  }
}
fn visibleQuery(i: u32, hi: u32, kp: u32, h: u32) -> bool {
  return i < hi && visible(kp, qpos[i % TILE], h);
}
`;

/** The key kernel's pass over one tile of queries, four at a time. */
const keyTileLoop = (K: boolean, V: boolean) => /* wgsl */ `
    for (var ii = 0u; ii < TILE; ii += 4u) {
      let vis = vec4<bool>(visibleQuery(i0 + ii, hi, kp, h), visibleQuery(i0 + ii + 1u, hi, kp, h), visibleQuery(i0 + ii + 2u, hi, kp, h), visibleQuery(i0 + ii + 3u, hi, kp, h));
      if (!any(vis)) { continue; }
      var a0 = vec4f();
      var a1 = vec4f();
      var a2 = vec4f();
      var a3 = vec4f();
      ${when(K, 'var d0 = vec4f();\n      var d1 = vec4f();\n      var d2 = vec4f();\n      var d3 = vec4f();')}
      for (var c = 0u; c < D4; c++) {
        let x = kr[c];
        a0 += qt[ii * D4 + c] * x;
        a1 += qt[(ii + 1u) * D4 + c] * x;
        a2 += qt[(ii + 2u) * D4 + c] * x;
        a3 += qt[(ii + 3u) * D4 + c] * x;
        ${when(K, 'let y = vr[c];\n        d0 += dt[ii * D4 + c] * y;\n        d1 += dt[(ii + 1u) * D4 + c] * y;\n        d2 += dt[(ii + 2u) * D4 + c] * y;\n        d3 += dt[(ii + 3u) * D4 + c] * y;')}
      }
      let s0 = qs[ii];
      let s1 = qs[ii + 1u];
      let s2 = qs[ii + 2u];
      let s3 = qs[ii + 3u];
      let p = select(vec4f(), exp(vec4f(sum4(a0), sum4(a1), sum4(a2), sum4(a3)) - vec4f(s0.x, s1.x, s2.x, s3.x)), vis);
      ${when(K, 'let ds = p * (vec4f(sum4(d0), sum4(d1), sum4(d2), sum4(d3)) - vec4f(s0.y, s1.y, s2.y, s3.y));')}
      for (var c = 0u; c < D4; c++) {
        ${when(V, 'av[c] += p.x * dt[ii * D4 + c] + p.y * dt[(ii + 1u) * D4 + c] + p.z * dt[(ii + 2u) * D4 + c] + p.w * dt[(ii + 3u) * D4 + c];')}
        ${when(K, 'ak[c] += ds.x * qt[ii * D4 + c] + ds.y * qt[(ii + 1u) * D4 + c] + ds.z * qt[(ii + 2u) * D4 + c] + ds.w * qt[(ii + 3u) * D4 + c];')}
      }
    }`;

/**
 * Backward for keys under one query head: dk and/or dv of each key row (per query head: the
 * heads sharing a key-value head are summed by sumHeadsWgsl). `parts` picks which (both at
 * once hold four rows of D floats per thread).
 */
export function backwardKeyWgsl(D: number, tile: number, parts: 'kv' | 'k' | 'v'): string {
  const K = parts !== 'v';
  const V = parts !== 'k';
  return header(D, tile) + keyDecls(K, V) + loadQueries + /* wgsl */ `
@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let n = P.n;
  let h = wg.y;
  let j = wg.x * ROWS + li;
  let b = batchOf(wg.z);
  let ch = chunkOf(wg.z);
  let kbase = ((b * P.kvHeads + h / (P.heads / P.kvHeads)) * n + min(j, n - 1u)) * D4;
  var kr: array<vec4f, D4>;
  ${when(K, 'var vr: array<vec4f, D4>;\n  var ak: array<vec4f, D4>;')}
  ${when(V, 'var av: array<vec4f, D4>;')}
  for (var c = 0u; c < D4; c++) {
    kr[c] = k[kbase + c] * P.scale;
    ${when(K, 'vr[c] = v[kbase + c];')}
  }
  let kp = pos[min(j, n - 1u)];
  let hbase = (b * P.heads + h) * n;
  let hi = min(n, (ch + 1u) * P.chunkLen);
  for (var i0 = max(wg.x * ROWS, ch * P.chunkLen); i0 < hi; i0 += TILE) {
    workgroupBarrier();
    loadQueries(i0, hbase, li);
    workgroupBarrier();
    ${keyTileLoop(K, V)}
  }
  if (j < n) {
    let out = ((wg.z * P.heads + h) * n + j) * D4;
    for (var c = 0u; c < D4; c++) {
      ${when(K, 'dk[out + c] = ak[c] * P.scale;')}
      ${when(V, 'dv[out + c] = av[c];')}
    }
  }
}
`;
}

/**
 * Sums chunk parts (B, chunks, H, N, D) over the chunks and over each key-value head's query
 * heads into (B, KV, N, D) (for dq, KV = H: over the chunks only).
 */
export function sumPartsWgsl(D: number): string {
  return /* wgsl */ `
const D4: u32 = ${D / 4}u;
struct Params { n: u32, heads: u32, kvHeads: u32, chunks: u32, total: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> part: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let e = id.x + id.y * nw.x * 256u;
  if (e >= P.total) { return; }
  let group = P.heads / P.kvHeads;
  let rowLen = P.n * D4;
  let bg = e / rowLen;
  let rest = e % rowLen;
  let b = bg / P.kvHeads;
  let g = bg % P.kvHeads;
  var s = vec4f();
  for (var c = 0u; c < P.chunks; c++) {
    for (var hh = 0u; hh < group; hh++) { s += part[((b * P.chunks + c) * P.heads + g * group + hh) * rowLen + rest]; }
  }
  out[e] = s;
}
`;
}

/** Merges the forward's chunks (B, chunks, H, N) into o and lse: rescaled to the largest maximum and normalised. */
export function mergeWgsl(D: number): string {
  return /* wgsl */ `
const D4: u32 = ${D / 4}u;
struct Params { n: u32, heads: u32, chunks: u32, rows: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> part: array<vec4f>;
@group(0) @binding(2) var<storage, read> ml: array<f32>;
@group(0) @binding(3) var<storage, read_write> o: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let r = id.x + id.y * nw.x * 256u;
  if (r >= P.rows) { return; }
  let hn = P.heads * P.n;
  let b = r / hn;
  let rest = r % hn;
  var mx = -1e30;
  for (var c = 0u; c < P.chunks; c++) { mx = max(mx, ml[2u * ((b * P.chunks + c) * hn + rest)]); }
  var l = 0.0;
  var acc: array<vec4f, D4>;
  for (var c = 0u; c < P.chunks; c++) {
    let idx = (b * P.chunks + c) * hn + rest;
    let w = exp(ml[2u * idx] - mx);
    l += ml[2u * idx + 1u] * w;
    for (var d = 0u; d < D4; d++) { acc[d] += part[idx * D4 + d] * w; }
  }
  for (var d = 0u; d < D4; d++) { o[r * D4 + d] = acc[d] / l; }
  lse[r] = mx + log(l);
}
`;
}

/** stats = (lse, rowsum(dO ∘ o)) of every query row, for the backward kernels. */
export function statsWgsl(D: number): string {
  return /* wgsl */ `
const D4: u32 = ${D / 4}u;
struct Params { rows: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> lse: array<f32>;
@group(0) @binding(2) var<storage, read> o: array<vec4f>;
@group(0) @binding(3) var<storage, read> dout: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> stats: array<vec2f>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let r = id.x + id.y * nw.x * 256u;
  if (r >= P.rows) { return; }
  var d = 0.0;
  for (var c = 0u; c < D4; c++) { d += dot(dout[r * D4 + c], o[r * D4 + c]); }
  stats[r] = vec2f(lse[r], d);
}
`;
}

/** AdamW on one tensor in place, as torch.optim.AdamW (decoupled decay, bias-corrected moments). */
export const adamwWgsl = /* wgsl */ `
struct A { lr: f32, beta1: f32, beta2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32, n: u32 }
@group(0) @binding(0) var<uniform> a: A;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> p: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = id.x + id.y * nw.x * 256u;
  if (i >= a.n) { return; }
  let gi = g[i];
  let m2 = m[i] * a.beta1 + gi * (1.0 - a.beta1);
  let v2 = v[i] * a.beta2 + gi * gi * (1.0 - a.beta2);
  let denom = sqrt(v2 / a.bc2) + a.eps;
  p[i] = p[i] * (1.0 - a.lr * a.wd) - a.lr * ((m2 / a.bc1) / denom);
  m[i] = m2;
  v[i] = v2;
}
`;

const blockScoreDecls = /* wgsl */ `
struct Params { n: u32, heads: u32, kvHeads: u32, nb: u32, scale: f32, pad0: f32, pad1: f32, pad2: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> tiles: array<f32>;
var<workgroup> kt: array<vec4f, BLOCK * D4>;
var<workgroup> red: array<f32, BLOCK * LANES>;
fn sum4(a: vec4f) -> f32 { return (a.x + a.y) + (a.z + a.w); }
`;

/**
 * The oracle's block scores (LEMO.md 2): for query block m and key block n ≤ m, the largest over
 * the tile's pairs of a strictly earlier key (j < i) of the heads' mean of relu(q·k/√D); 0 where
 * no pair counts. One workgroup a tile: BLOCK query rows × BLOCK/4 threads of four keys each.
 * tiles (B, NB, NB), zero above the diagonal. Rows are token positions 0..N-1.
 */
export function blockScoresWgsl(D: number, block: number): string {
  return /* wgsl */ `
const D4: u32 = ${D / 4}u;
const BLOCK: u32 = ${block}u;
const LANES: u32 = ${block / 4}u;
${blockScoreDecls}
@compute @workgroup_size(BLOCK, LANES)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m = wg.x;
  let nk = wg.y;
  let b = wg.z;
  let out = (b * P.nb + m) * P.nb + nk;
  if (nk > m) {
    if (li == 0u) { tiles[out] = 0.0; }
    return;
  }
  let i = m * BLOCK + lid.x;
  let row = min(i, P.n - 1u);
  let j0 = lid.y * 4u;
  var acc = vec4f();
  for (var h = 0u; h < P.heads; h++) {
    let g = h / (P.heads / P.kvHeads);
    workgroupBarrier();
    for (var e = li; e < BLOCK * D4; e += BLOCK * LANES) {
      kt[e] = k[((b * P.kvHeads + g) * P.n + min(nk * BLOCK + e / D4, P.n - 1u)) * D4 + e % D4];
    }
    workgroupBarrier();
    let qb = ((b * P.heads + h) * P.n + row) * D4;
    var s0 = vec4f();
    var s1 = vec4f();
    var s2 = vec4f();
    var s3 = vec4f();
    for (var c = 0u; c < D4; c++) {
      let x = q[qb + c];
      s0 += x * kt[j0 * D4 + c];
      s1 += x * kt[(j0 + 1u) * D4 + c];
      s2 += x * kt[(j0 + 2u) * D4 + c];
      s3 += x * kt[(j0 + 3u) * D4 + c];
    }
    acc += max(vec4f(sum4(s0), sum4(s1), sum4(s2), sum4(s3)) * P.scale, vec4f());
  }
  let kj = vec4u(nk * BLOCK + j0) + vec4u(0u, 1u, 2u, 3u);
  let counted = (kj < vec4u(i)) & vec4<bool>(i < P.n);
  let v = select(vec4f(), acc / f32(P.heads), counted);
  red[li] = max(max(v.x, v.y), max(v.z, v.w));
  for (var half = BLOCK * LANES / 2u; half > 0u; half /= 2u) {
    workgroupBarrier();
    if (li < half) { red[li] = max(red[li], red[li + half]); }
  }
  if (li == 0u) { tiles[out] = red[0]; }
}
`;
}

// Register-tiled WGSL of the same causal attention as attention-wgsl.ts (same bindings, layouts
// and masking), for head sizes that are a multiple of 16. There one thread owns one row and
// every multiply-add reads its operand from workgroup memory; here a thread owns four rows of
// one side and several rows of the other (and a strided quarter of the head's columns), so each
// value read from workgroup memory feeds several multiply-adds, FlashAttention-2 style:
// - forward: a workgroup of BR query rows walks key tiles of BC; per tile, scores S = Q·Kᵀ
//   (4 × BC/4 per thread), the rows' maxima across the four lanes that share them, P through
//   workgroup memory, then O += P·V;
// - dQ: the same walk; dS = P ∘ (dO·Vᵀ − δ) through workgroup memory, then dQ += dS·K;
// - dK and dV together: a workgroup of BK key rows walks query tiles of BQ; Sᵀ and dPᵀ once,
//   then dV += Pᵀ·dO and dK += dSᵀ·Q (one kernel, where the row kernels recompute the scores
//   for dK and for dV apart).
// Rows in workgroup memory are padded by one vec4 so the lanes' rows fall in different banks.

/** The lanes that share a row group (each takes every fourth column and every fourth row of the other side). */
const LANES = 4;

/** Tile sizes of the tiled kernels: query rows and key rows a workgroup or a step of its loop takes. */
export const TILED = { fwd: { rows: 32, keys: 32 }, dq: { rows: 32, keys: 16 }, dkv: { keys: 32, queries: 16 } };

/** Whether the tiled kernels take this head size. */
export function tiledSupports(D: number): boolean {
  return D % (4 * LANES) === 0 && D <= 128;
}

/** Bytes of workgroup memory the largest tiled kernel needs for head size D. */
export function tiledWorkgroupBytes(D: number): number {
  const row = (D / 4 + 1) * 16;
  const fwd = (TILED.fwd.rows + 2 * TILED.fwd.keys) * row + TILED.fwd.keys * (TILED.fwd.rows / 4) * 16 + 4 * TILED.fwd.keys + 16 * TILED.fwd.rows;
  const dq = (2 * TILED.dq.rows + 2 * TILED.dq.keys) * row + TILED.dq.keys * (TILED.dq.rows / 4) * 16 + 4 * TILED.dq.keys;
  const { keys: K, queries: Q } = TILED.dkv;
  const dkv = (2 * K + 2 * Q) * row + 2 * Q * (K / 4) * 16 + 12 * Q;
  return Math.max(fwd, dq, dkv);
}

const header = (D: number) => /* wgsl */ `
const D4: u32 = ${D / 4}u;
const SD: u32 = ${D / 4 + 1}u;
const LANES: u32 = ${LANES}u;
const DL: u32 = ${D / 4 / LANES}u;
const SEGMENT: u32 = 64u;
struct Params { n: u32, heads: u32, kvHeads: u32, chunkLen: u32, chunks: u32, group: f32, scale: f32, pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> pos: array<u32>;
fn visible(kp: u32, qp: u32, h: u32) -> bool {
  if (kp > qp) { return false; }
  if (P.group == 0.0) { return true; }
  let shift = select(0.0, P.group * 0.5, 2u * h >= P.heads);
  return floor((f32(kp) + shift) / P.group) == floor((f32(qp) + shift) / P.group);
}
fn chunkOf(z: u32) -> u32 { return z % P.chunks; }
fn batchOf(z: u32) -> u32 { return z / P.chunks; }
// The first key row a query row tile may see: the start of its 64-row segment's (meta, after the positions).
fn firstKey(i0: u32) -> u32 { return pos[P.n + i0 / SEGMENT]; }
`;

/** Copies `count` rows from a (…, n, D) buffer at row `r0` of base `base` into padded workgroup rows. */
const copyRows = (name: string, src: string, count: number, threads: number) => /* wgsl */ `
fn load_${name}(r0: u32, base: u32, li: u32) {
  for (var e = li; e < ${count}u * D4; e += ${threads}u) {
    let r = e / D4;
    ${name}[r * SD + e % D4] = ${src}[(base + min(r0 + r, P.n - 1u)) * D4 + e % D4];
  }
}`;

/** The forward's entry point: Q tile loaded once, then the key tiles (online softmax). */
const forwardMain = /* wgsl */ `
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let n = P.n;
  let h = wg.y;
  let b = batchOf(wg.z);
  let ch = chunkOf(wg.z);
  let rg = li / LANES;
  let ln = li % LANES;
  let i0 = wg.x * BR;
  let qbase = (b * P.heads + h) * n;
  let kbase = (b * P.kvHeads + h / (P.heads / P.kvHeads)) * n;
  load_qs(i0, qbase, li);
  var qp: array<u32, 4>;
  for (var a = 0u; a < 4u; a++) { qp[a] = pos[min(i0 + rg * 4u + a, n - 1u)]; }
  var m = vec4f(-1e30);
  var l = vec4f();
  var acc: array<array<vec4f, DL>, 4>;
  let hi = min(min(n, i0 + BR), (ch + 1u) * P.chunkLen);
  for (var k0 = max(firstKey(i0), ch * P.chunkLen); k0 < hi; k0 += BC) {
    workgroupBarrier();
    load_ks(k0, kbase, li);
    load_vs(k0, kbase, li);
    if (li < BC) { kpos[li] = select(0xffffffffu, pos[min(k0 + li, n - 1u)], k0 + li < hi); }
    workgroupBarrier();
    // Zeroed here, each tile (a declaration in a loop is not reliably re-initialised).
    var s: array<vec4f, KPT>;
    for (var j = 0u; j < KPT; j++) { s[j] = vec4f(); }
    for (var c = 0u; c < D4; c++) {
      let q0 = qs[(rg * 4u) * SD + c];
      let q1 = qs[(rg * 4u + 1u) * SD + c];
      let q2 = qs[(rg * 4u + 2u) * SD + c];
      let q3 = qs[(rg * 4u + 3u) * SD + c];
      for (var j = 0u; j < KPT; j++) {
        let kk = ks[(ln + LANES * j) * SD + c];
        s[j] += vec4f(dot(q0, kk), dot(q1, kk), dot(q2, kk), dot(q3, kk));
      }
    }
    var mx = vec4f(-1e30);
    for (var j = 0u; j < KPT; j++) {
      let kp = kpos[ln + LANES * j];
      let vis = vec4<bool>(visible(kp, qp[0], h), visible(kp, qp[1], h), visible(kp, qp[2], h), visible(kp, qp[3], h));
      s[j] = select(vec4f(-1e30), s[j] * P.scale, vis);
      mx = max(mx, s[j]);
    }
    red[li] = mx;
    workgroupBarrier();
    var mNew = m;
    for (var x = 0u; x < LANES; x++) { mNew = max(mNew, red[rg * LANES + x]); }
    let corr = exp(m - mNew);
    m = mNew;
    l *= corr;
    for (var d = 0u; d < DL; d++) {
      acc[0][d] *= corr.x;
      acc[1][d] *= corr.y;
      acc[2][d] *= corr.z;
      acc[3][d] *= corr.w;
    }
    for (var j = 0u; j < KPT; j++) {
      let p = select(vec4f(), exp(s[j] - m), s[j] > vec4f(-1e29));
      l += p;
      pt[(ln + LANES * j) * RG + rg] = p;
    }
    workgroupBarrier();
    for (var c = 0u; c < BC; c++) {
      let p = pt[c * RG + rg];
      for (var d = 0u; d < DL; d++) {
        let vv = vs[c * SD + ln + LANES * d];
        acc[0][d] += p.x * vv;
        acc[1][d] += p.y * vv;
        acc[2][d] += p.z * vv;
        acc[3][d] += p.w * vv;
      }
    }
  }
  workgroupBarrier();
  red[li] = l;
  workgroupBarrier();
  var lt = vec4f();
  for (var x = 0u; x < LANES; x++) { lt += red[rg * LANES + x]; }
  for (var a = 0u; a < 4u; a++) {
    let i = i0 + rg * 4u + a;
    if (i >= n) { continue; }
    if (P.chunks == 1u) {
      for (var d = 0u; d < DL; d++) { o[(qbase + i) * D4 + ln + LANES * d] = acc[a][d] / lt[a]; }
      if (ln == 0u) { lse[qbase + i] = m[a] + log(lt[a]); }
    } else {
      let r = (wg.z * P.heads + h) * n + i;
      for (var d = 0u; d < DL; d++) { o[r * D4 + ln + LANES * d] = acc[a][d]; }
      if (ln == 0u) {
        lse[2u * r] = m[a];
        lse[2u * r + 1u] = lt[a];
      }
    }
  }
}
`;

/** dQ's entry point: Q and dO tiles loaded once, then the key tiles. */
const queryMain = /* wgsl */ `
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let n = P.n;
  let h = wg.y;
  let b = batchOf(wg.z);
  let ch = chunkOf(wg.z);
  let rg = li / LANES;
  let ln = li % LANES;
  let i0 = wg.x * BR;
  let qbase = (b * P.heads + h) * n;
  let kbase = (b * P.kvHeads + h / (P.heads / P.kvHeads)) * n;
  load_qs(i0, qbase, li);
  load_gs(i0, qbase, li);
  var qp: array<u32, 4>;
  var ls: vec4f;
  var dl: vec4f;
  for (var a = 0u; a < 4u; a++) {
    let r = min(i0 + rg * 4u + a, n - 1u);
    qp[a] = pos[r];
    let x = stats[qbase + r];
    ls[a] = x.x;
    dl[a] = x.y;
  }
  var acc: array<array<vec4f, DL>, 4>;
  let hi = min(min(n, i0 + BR), (ch + 1u) * P.chunkLen);
  for (var k0 = max(firstKey(i0), ch * P.chunkLen); k0 < hi; k0 += BC) {
    workgroupBarrier();
    load_ks(k0, kbase, li);
    load_vs(k0, kbase, li);
    if (li < BC) { kpos[li] = select(0xffffffffu, pos[min(k0 + li, n - 1u)], k0 + li < hi); }
    workgroupBarrier();
    var s: array<vec4f, KPT>;
    var dp: array<vec4f, KPT>;
    for (var j = 0u; j < KPT; j++) {
      s[j] = vec4f();
      dp[j] = vec4f();
    }
    for (var c = 0u; c < D4; c++) {
      let q0 = qs[(rg * 4u) * SD + c];
      let q1 = qs[(rg * 4u + 1u) * SD + c];
      let q2 = qs[(rg * 4u + 2u) * SD + c];
      let q3 = qs[(rg * 4u + 3u) * SD + c];
      let g0 = gs[(rg * 4u) * SD + c];
      let g1 = gs[(rg * 4u + 1u) * SD + c];
      let g2 = gs[(rg * 4u + 2u) * SD + c];
      let g3 = gs[(rg * 4u + 3u) * SD + c];
      for (var j = 0u; j < KPT; j++) {
        let kk = ks[(ln + LANES * j) * SD + c];
        let vv = vs[(ln + LANES * j) * SD + c];
        s[j] += vec4f(dot(q0, kk), dot(q1, kk), dot(q2, kk), dot(q3, kk));
        dp[j] += vec4f(dot(g0, vv), dot(g1, vv), dot(g2, vv), dot(g3, vv));
      }
    }
    for (var j = 0u; j < KPT; j++) {
      let kp = kpos[ln + LANES * j];
      let vis = vec4<bool>(visible(kp, qp[0], h), visible(kp, qp[1], h), visible(kp, qp[2], h), visible(kp, qp[3], h));
      st[(ln + LANES * j) * RG + rg] = select(vec4f(), exp(s[j] * P.scale - ls) * (dp[j] - dl), vis);
    }
    workgroupBarrier();
    for (var c = 0u; c < BC; c++) {
      let g = st[c * RG + rg];
      for (var d = 0u; d < DL; d++) {
        let kk = ks[c * SD + ln + LANES * d];
        acc[0][d] += g.x * kk;
        acc[1][d] += g.y * kk;
        acc[2][d] += g.z * kk;
        acc[3][d] += g.w * kk;
      }
    }
  }
  for (var a = 0u; a < 4u; a++) {
    let i = i0 + rg * 4u + a;
    if (i >= n) { continue; }
    let out = ((wg.z * P.heads + h) * n + i) * D4;
    for (var d = 0u; d < DL; d++) { dq[out + ln + LANES * d] = acc[a][d] * P.scale; }
  }
}
`;

/** dK and dV's entry point: K and V tiles loaded once, then the query tiles. */
const keyValueMain = /* wgsl */ `
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let n = P.n;
  let h = wg.y;
  let b = batchOf(wg.z);
  let ch = chunkOf(wg.z);
  let kg = li / LANES;
  let ln = li % LANES;
  let j0 = wg.x * BK;
  let qbase = (b * P.heads + h) * n;
  let kbase = (b * P.kvHeads + h / (P.heads / P.kvHeads)) * n;
  load_ks(j0, kbase, li);
  load_vs(j0, kbase, li);
  var kp: array<u32, 4>;
  for (var a = 0u; a < 4u; a++) { kp[a] = pos[min(j0 + kg * 4u + a, n - 1u)]; }
  var ak: array<array<vec4f, DL>, 4>;
  var av: array<array<vec4f, DL>, 4>;
  let hi = min(n, (ch + 1u) * P.chunkLen);
  for (var i0 = max(j0, ch * P.chunkLen); i0 < hi; i0 += BQ) {
    workgroupBarrier();
    load_qs(i0, qbase, li);
    load_gs(i0, qbase, li);
    if (li < BQ) {
      let r = min(i0 + li, n - 1u);
      qstat[li] = stats[qbase + r];
      qpos[li] = select(0u, pos[r], i0 + li < hi);
    }
    workgroupBarrier();
    // Sᵀ and dPᵀ: x[j] holds the four keys' values against query ln + LANES·j.
    var s: array<vec4f, QPT>;
    var dp: array<vec4f, QPT>;
    for (var j = 0u; j < QPT; j++) {
      s[j] = vec4f();
      dp[j] = vec4f();
    }
    for (var c = 0u; c < D4; c++) {
      let k0 = ks[(kg * 4u) * SD + c];
      let k1 = ks[(kg * 4u + 1u) * SD + c];
      let k2 = ks[(kg * 4u + 2u) * SD + c];
      let k3 = ks[(kg * 4u + 3u) * SD + c];
      let v0 = vs[(kg * 4u) * SD + c];
      let v1 = vs[(kg * 4u + 1u) * SD + c];
      let v2 = vs[(kg * 4u + 2u) * SD + c];
      let v3 = vs[(kg * 4u + 3u) * SD + c];
      for (var j = 0u; j < QPT; j++) {
        let qq = qs[(ln + LANES * j) * SD + c];
        let gg = gs[(ln + LANES * j) * SD + c];
        s[j] += vec4f(dot(k0, qq), dot(k1, qq), dot(k2, qq), dot(k3, qq));
        dp[j] += vec4f(dot(v0, gg), dot(v1, gg), dot(v2, gg), dot(v3, gg));
      }
    }
    for (var j = 0u; j < QPT; j++) {
      let x = ln + LANES * j;
      let qp = qpos[x];
      let vis = vec4<bool>(visible(kp[0], qp, h), visible(kp[1], qp, h), visible(kp[2], qp, h), visible(kp[3], qp, h)) & vec4<bool>(i0 + x < hi);
      let p = select(vec4f(), exp(s[j] * P.scale - qstat[x].x), vis);
      pt[x * KG + kg] = p;
      st[x * KG + kg] = p * (dp[j] - qstat[x].y);
    }
    workgroupBarrier();
    for (var x = 0u; x < BQ; x++) {
      let p = pt[x * KG + kg];
      let g = st[x * KG + kg];
      for (var d = 0u; d < DL; d++) {
        let dd = gs[x * SD + ln + LANES * d];
        let qq = qs[x * SD + ln + LANES * d];
        av[0][d] += p.x * dd;
        av[1][d] += p.y * dd;
        av[2][d] += p.z * dd;
        av[3][d] += p.w * dd;
        ak[0][d] += g.x * qq;
        ak[1][d] += g.y * qq;
        ak[2][d] += g.z * qq;
        ak[3][d] += g.w * qq;
      }
    }
  }
  for (var a = 0u; a < 4u; a++) {
    let j = j0 + kg * 4u + a;
    if (j >= n) { continue; }
    let out = ((wg.z * P.heads + h) * n + j) * D4;
    for (var d = 0u; d < DL; d++) {
      dk[out + ln + LANES * d] = ak[a][d] * P.scale;
      dv[out + ln + LANES * d] = av[a][d];
    }
  }
}
`;

/** Forward: o and each query row's log-sum-exp (or, with chunks, each chunk's unnormalised o and (max, sum)). */
export function forwardTiledWgsl(D: number): string {
  const { rows: BR, keys: BC } = TILED.fwd;
  const RG = BR / 4;
  const KPT = BC / LANES;
  const T = RG * LANES;
  return header(D) + /* wgsl */ `
const BR: u32 = ${BR}u;
const BC: u32 = ${BC}u;
const RG: u32 = ${RG}u;
const KPT: u32 = ${KPT}u;
@group(0) @binding(2) var<storage, read> q: array<vec4f>;
@group(0) @binding(3) var<storage, read> k: array<vec4f>;
@group(0) @binding(4) var<storage, read> v: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> o: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
var<workgroup> qs: array<vec4f, BR * SD>;
var<workgroup> ks: array<vec4f, BC * SD>;
var<workgroup> vs: array<vec4f, BC * SD>;
var<workgroup> pt: array<vec4f, BC * RG>;
var<workgroup> kpos: array<u32, BC>;
var<workgroup> red: array<vec4f, RG * LANES>;
${copyRows('qs', 'q', BR, T)}
${copyRows('ks', 'k', BC, T)}
${copyRows('vs', 'v', BC, T)}

@compute @workgroup_size(${T})
${forwardMain}
`;
}

/** Backward for queries: dq (or each chunk's part of it). */
export function backwardQueryTiledWgsl(D: number): string {
  const { rows: BR, keys: BC } = TILED.dq;
  const RG = BR / 4;
  const KPT = BC / LANES;
  const T = RG * LANES;
  return header(D) + /* wgsl */ `
const BR: u32 = ${BR}u;
const BC: u32 = ${BC}u;
const RG: u32 = ${RG}u;
const KPT: u32 = ${KPT}u;
@group(0) @binding(2) var<storage, read> q: array<vec4f>;
@group(0) @binding(3) var<storage, read> k: array<vec4f>;
@group(0) @binding(4) var<storage, read> v: array<vec4f>;
@group(0) @binding(5) var<storage, read> stats: array<vec2f>;
@group(0) @binding(6) var<storage, read> dout: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> dq: array<vec4f>;
var<workgroup> qs: array<vec4f, BR * SD>;
var<workgroup> gs: array<vec4f, BR * SD>;
var<workgroup> ks: array<vec4f, BC * SD>;
var<workgroup> vs: array<vec4f, BC * SD>;
var<workgroup> st: array<vec4f, BC * RG>;
var<workgroup> kpos: array<u32, BC>;
${copyRows('qs', 'q', BR, T)}
${copyRows('gs', 'dout', BR, T)}
${copyRows('ks', 'k', BC, T)}
${copyRows('vs', 'v', BC, T)}

@compute @workgroup_size(${T})
${queryMain}
`;
}

/** Backward for keys under one query head: dk and dv of each key row (per query head and chunk: summed after). */
export function backwardKeyValueTiledWgsl(D: number): string {
  const { keys: BK, queries: BQ } = TILED.dkv;
  const KG = BK / 4;
  const QPT = BQ / LANES;
  const T = KG * LANES;
  return header(D) + /* wgsl */ `
const BK: u32 = ${BK}u;
const BQ: u32 = ${BQ}u;
const KG: u32 = ${KG}u;
const QPT: u32 = ${QPT}u;
@group(0) @binding(2) var<storage, read> q: array<vec4f>;
@group(0) @binding(3) var<storage, read> k: array<vec4f>;
@group(0) @binding(4) var<storage, read> v: array<vec4f>;
@group(0) @binding(5) var<storage, read> stats: array<vec2f>;
@group(0) @binding(6) var<storage, read> dout: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> dk: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> dv: array<vec4f>;
var<workgroup> ks: array<vec4f, BK * SD>;
var<workgroup> vs: array<vec4f, BK * SD>;
var<workgroup> qs: array<vec4f, BQ * SD>;
var<workgroup> gs: array<vec4f, BQ * SD>;
var<workgroup> pt: array<vec4f, BQ * KG>;
var<workgroup> st: array<vec4f, BQ * KG>;
var<workgroup> qstat: array<vec2f, BQ>;
var<workgroup> qpos: array<u32, BQ>;
${copyRows('ks', 'k', BK, T)}
${copyRows('vs', 'v', BK, T)}
${copyRows('qs', 'q', BQ, T)}
${copyRows('gs', 'dout', BQ, T)}

@compute @workgroup_size(${T})
${keyValueMain}
`;
}

// Prepares the operands of the tiled convolution kernels: up to three independent jobs in one
// dispatch (threads [0, pad_threads) do job 1, one padded row each; the next pack_threads do
// job 2; the next pad2_threads do job 3).
//  1. dst_pad = src copied into a zero-padded NCHW layout [nc, hp, wp4 vec4s], so the tiled
//     kernels load rows as aligned vec4s and never bounds-check; element (r, c) of a plane lands
//     at (r + pt, c + pl). With flags bit 0, src is masked by msk > 0 (the gradient of a fused
//     ReLU whose output is msk). src and msk are read as vec4s of the flat array (bound rounded
//     up to whole vec4s) and realigned per row: a scalar storage load costs about as much as a
//     vec4 one on llvmpipe. With dil > 1, src is also dilated (element (r, c) lands at
//     (r*dil + pt, c*dil + pl), zeros between): the input gradient of a strided convolution.
//  2. dst_pack = the weight [co, ci, kh, kw] regrouped into vec4s of 4 channels ("ch"), zero-filled
//     past nch: dst_pack[(cb * red + r) * kk + k][j] = w[ch * s_ch + r * s_red + k'] with
//     ch = cb * 4 + j, k' = k (forward) or kk - 1 - k (flags bit 1: the kernel flipped for the
//     input gradient, where ch runs over ci and r over co).
//  3. dst_pad2 = src (masked like job 1) in a second padded layout: the weight gradient and the
//     input gradient of one convolution want dy padded differently, and one dispatch beats two.
// With flags bit 2 (the backward of a convolution with a fused 2×2 max-pool), src is the pooled
// gradient [nc, h/2, w/2] and element (r, c) of the h × w plane is src at (r/2, c/2) where the
// window's winner idx is this position (else 0; rows and columns past the full windows are 0);
// the mask msk > 0 then reads the pooled output.
// nn/ops/conv2d.ts prepends conv2d_tile_common.wgsl (udiv, window).
struct Layout {
  hp: u32, wp4: u32, pt: u32, pl: u32,
  dil: u32, threads: u32, _a: u32, _b: u32,
}
struct Params {
  nc: u32, h: u32, w: u32, flags: u32,
  nch: u32, red: u32, kk: u32, s_ch: u32,
  s_red: u32, pack_threads: u32, _a: u32, _b: u32,
  pad: Layout,
  pad2: Layout,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4f>;
@group(0) @binding(2) var<storage, read> msk: array<vec4f>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst_pad: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> dst_pack: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> dst_pad2: array<vec4f>;
@group(0) @binding(7) var<storage, read> idx: array<u32>;

fn put(second: bool, o: u32, v: vec4f) {
  if (second) { dst_pad2[o] = v; } else { dst_pad[o] = v; }
}

// Element (r, c) of plane `plane` of the source, masked.
fn src_at(plane: u32, r: u32, c: u32) -> f32 {
  var f = (plane * p.h + r) * p.w + c;
  var win = true;
  if ((p.flags & 4u) != 0u) {
    // Unpooling: the pooled element of this window, if this position won it.
    let ph = p.h / 2u;
    let pw = p.w / 2u;
    let pr = min(r / 2u, ph - 1u);
    let pc = min(c / 2u, pw - 1u);
    f = (plane * ph + pr) * pw + pc;
    win = r < 2u * ph && c < 2u * pw && idx[f] == (r & 1u) * 2u + (c & 1u);
  }
  var x = src[f >> 2u][f & 3u];
  if ((p.flags & 1u) != 0u && !(msk[f >> 2u][f & 3u] > 0.0)) { x = 0.0; }
  return select(0.0, x, win);
}

// One row element by element (dilated for strided convolutions, or unpooled).
fn element_row(L: Layout, second: bool, plane: u32, sr: u32, o: u32) {
  for (var m = 0u; m < L.wp4; m++) {
    var v = vec4f(0.0);
    for (var e = 0u; e < 4u; e++) {
      let dc = m * 4u + e - L.pl; // wraps around left of the data
      var sc = dc;
      if (L.dil > 1u) { sc = udiv(min(dc, p.w * L.dil), L.dil); }
      let ok = dc < p.w * L.dil && sc * L.dil == dc;
      v[e] = select(0.0, src_at(plane, sr, select(0u, sc, ok)), ok);
    }
    put(second, o + m, v);
  }
}

// Padded row i of layout L (job 1, or job 3 when `second`).
fn pad_row(L: Layout, second: bool, i: u32) {
  let plane = udiv(i, L.hp);
  let dr = i - plane * L.hp - L.pt; // wraps around above the data
  let o = i * L.wp4;
  let sr = udiv(min(dr, p.h * L.dil), L.dil);
  if (dr >= p.h * L.dil || sr * L.dil != dr) {
    for (var m = 0u; m < L.wp4; m++) { put(second, o + m, vec4f(0.0)); }
    return;
  }
  if (L.dil > 1u || (p.flags & 4u) != 0u) {
    element_row(L, second, plane, sr, o);
    return;
  }
  // Flat index of padded column 0 (negative only left of plane 0's first row), split into a
  // vec4 index and the offset a within it. Reads left of or past the data (clamped by WebGPU
  // when outside the buffer) only feed columns that are zeroed below.
  let base = i32((plane * p.h + sr) * p.w) - i32(L.pl);
  let a = u32(base & 3);
  var vi = base >> 2u;
  var lo = src[u32(vi)];
  var lom = msk[u32(vi)];
  let masked = (p.flags & 1u) != 0u;
  for (var m = 0u; m < L.wp4; m++) {
    vi++;
    let hi = src[u32(vi)];
    var v = window(lo, hi, a);
    lo = hi;
    if (masked) {
      let him = msk[u32(vi)];
      v = select(vec4f(0.0), v, window(lom, him, a) > vec4f(0.0));
      lom = him;
    }
    let col = vec4u(m * 4u - L.pl) + vec4u(0u, 1u, 2u, 3u);
    put(second, o + m, select(vec4f(0.0), v, col < vec4u(p.w)));
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i < p.pad.threads) {
    pad_row(p.pad, false, i);
    return;
  }
  let q = i - p.pad.threads;
  if (q >= p.pack_threads) {
    let i2 = q - p.pack_threads;
    if (i2 < p.pad2.threads) { pad_row(p.pad2, true, i2); }
    return;
  }
  let t = udiv(q, p.kk);
  let k = q - t * p.kk;
  let cb = udiv(t, p.red);
  let r = t - cb * p.red;
  let ks = select(k, p.kk - 1u - k, (p.flags & 2u) != 0u);
  var v = vec4f(0.0);
  for (var j = 0u; j < 4u; j++) {
    let ch = cb * 4u + j;
    if (ch < p.nch) { v[j] = weight[ch * p.s_ch + r * p.s_red + ks]; }
  }
  dst_pack[q] = v;
}

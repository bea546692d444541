// dx[n, c, iy, ix] = sum over (co, ky, kx) of w[co, c, ky, kx] * dy[n, co, oy, ox] where
// oy*stride + ky - pad = iy (and likewise for x). A gather: no atomics, deterministic.
// Each thread computes one input pixel for four consecutive input channels. General fallback
// (any stride/padding); dy may be stored padded: planes of hpd × wpd with dy[0, 0] at (ptd, pld).
struct Params {
  n: u32, ci: u32, h: u32, w: u32,
  co: u32, oh: u32, ow: u32, kh: u32,
  kw: u32, stride: u32, pad: u32, flags: u32,
  hpd: u32, wpd: u32, ptd: u32, pld: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let cib = (p.ci + 3u) / 4u;
  if (i >= p.n * cib * p.h * p.w) { return; }
  let ix = i % p.w;
  var t = i / p.w;
  let iy = t % p.h;
  t = t / p.h;
  let cb = t % cib;
  let n = t / cib;
  let c0 = cb * 4u;
  let c1 = min(c0 + 1u, p.ci - 1u);
  let c2 = min(c0 + 2u, p.ci - 1u);
  let c3 = min(c0 + 3u, p.ci - 1u);
  let ksz = p.kh * p.kw;
  var acc = vec4f(0.0);
  for (var ky = 0u; ky < p.kh; ky++) {
    let ty = i32(iy + p.pad) - i32(ky);
    if (ty < 0 || ty % i32(p.stride) != 0) { continue; }
    let oy = u32(ty) / p.stride;
    if (oy >= p.oh) { continue; }
    for (var kx = 0u; kx < p.kw; kx++) {
      let tx = i32(ix + p.pad) - i32(kx);
      if (tx < 0 || tx % i32(p.stride) != 0) { continue; }
      let ox = u32(tx) / p.stride;
      if (ox >= p.ow) { continue; }
      let k = ky * p.kw + kx;
      for (var co = 0u; co < p.co; co++) {
        let g = dy[((n * p.co + co) * p.hpd + oy + p.ptd) * p.wpd + ox + p.pld];
        let wb = co * p.ci * ksz + k;
        acc += g * vec4f(weight[wb + c0 * ksz], weight[wb + c1 * ksz],
                         weight[wb + c2 * ksz], weight[wb + c3 * ksz]);
      }
    }
  }
  let plane = p.h * p.w;
  let obase = (n * p.ci + c0) * plane + iy * p.w + ix;
  dx[obase] = acc.x;
  if (c0 + 1u < p.ci) { dx[obase + plane] = acc.y; }
  if (c0 + 2u < p.ci) { dx[obase + 2u * plane] = acc.z; }
  if (c0 + 3u < p.ci) { dx[obase + 3u * plane] = acc.w; }
}

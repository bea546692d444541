// Direct convolution, NCHW, weight [Co, Ci, KH, KW]. Each thread computes one output pixel for
// four consecutive output channels, so every input value loaded is used four times.
// flags: bit 0 = add bias, bit 1 = apply ReLU (fused epilogue).
struct Params {
  n: u32, ci: u32, h: u32, w: u32,
  co: u32, oh: u32, ow: u32, kh: u32,
  kw: u32, stride: u32, pad: u32, flags: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let cob = (p.co + 3u) / 4u;
  if (i >= p.n * cob * p.oh * p.ow) { return; }
  let ox = i % p.ow;
  var t = i / p.ow;
  let oy = t % p.oh;
  t = t / p.oh;
  let cb = t % cob;
  let n = t / cob;
  let co0 = cb * 4u;
  // Clamp channel indices so the last partial block reads valid weights; masked at the end.
  let c1 = min(co0 + 1u, p.co - 1u);
  let c2 = min(co0 + 2u, p.co - 1u);
  let c3 = min(co0 + 3u, p.co - 1u);
  let ksz = p.kh * p.kw;
  let wstride = p.ci * ksz;
  var acc = vec4f(0.0);
  let iy0 = i32(oy * p.stride) - i32(p.pad);
  let ix0 = i32(ox * p.stride) - i32(p.pad);
  for (var c = 0u; c < p.ci; c++) {
    let xbase = (n * p.ci + c) * p.h;
    let wbase = c * ksz;
    for (var ky = 0u; ky < p.kh; ky++) {
      let iy = iy0 + i32(ky);
      if (iy < 0 || iy >= i32(p.h)) { continue; }
      let xrow = (xbase + u32(iy)) * p.w;
      for (var kx = 0u; kx < p.kw; kx++) {
        let ix = ix0 + i32(kx);
        if (ix < 0 || ix >= i32(p.w)) { continue; }
        let xv = x[xrow + u32(ix)];
        let k = wbase + ky * p.kw + kx;
        acc += xv * vec4f(weight[co0 * wstride + k], weight[c1 * wstride + k],
                          weight[c2 * wstride + k], weight[c3 * wstride + k]);
      }
    }
  }
  if ((p.flags & 1u) != 0u) {
    acc += vec4f(bias[co0], bias[c1], bias[c2], bias[c3]);
  }
  if ((p.flags & 2u) != 0u) {
    acc = max(acc, vec4f(0.0));
  }
  let plane = p.oh * p.ow;
  let obase = (n * p.co + co0) * plane + oy * p.ow + ox;
  y[obase] = acc.x;
  if (co0 + 1u < p.co) { y[obase + plane] = acc.y; }
  if (co0 + 2u < p.co) { y[obase + 2u * plane] = acc.z; }
  if (co0 + 3u < p.co) { y[obase + 3u * plane] = acc.w; }
}

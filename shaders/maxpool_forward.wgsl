// Max-pool over k×k windows with stride; padded positions never win (as in PyTorch).
// Stores the argmax (index within the input plane) for the backward gather.
struct Params {
  planes: u32, h: u32, w: u32, oh: u32,
  ow: u32, k: u32, stride: u32, pad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.planes * p.oh * p.ow) { return; }
  let ox = i % p.ow;
  let t = i / p.ow;
  let oy = t % p.oh;
  let plane = t / p.oh;
  let base = plane * p.h * p.w;
  let iy0 = i32(oy * p.stride) - i32(p.pad);
  let ix0 = i32(ox * p.stride) - i32(p.pad);
  var best = -3.4028234663852886e38;
  var best_idx = 0xffffffffu;
  for (var ky = 0u; ky < p.k; ky++) {
    let iy = iy0 + i32(ky);
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    for (var kx = 0u; kx < p.k; kx++) {
      let ix = ix0 + i32(kx);
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      let idx = u32(iy) * p.w + u32(ix);
      let v = x[base + idx];
      // Strict '>' keeps the first maximum, matching the CPU reference on ties.
      if (v > best || best_idx == 0xffffffffu) { best = v; best_idx = idx; }
    }
  }
  y[i] = best;
  argmax[i] = best_idx;
}

// dx[plane, iy, ix] = sum of dy over the output windows whose argmax is this pixel.
// A gather over the windows that can contain the pixel: no atomics, overlap-safe.
// Params and bindings: maxpool_backward_bindings.wgsl.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.planes * p.h * p.w) { return; }
  let idx = i % (p.h * p.w);
  let plane = i / (p.h * p.w);
  let iy = idx / p.w;
  let ix = idx % p.w;
  // Windows oy with oy*stride - pad <= iy < oy*stride - pad + k.
  let ty = i32(iy + p.pad);
  let tx = i32(ix + p.pad);
  let s = i32(p.stride);
  let oy_lo = max((ty - i32(p.k) + s) / s, 0);
  let oy_hi = min(ty / s, i32(p.oh) - 1);
  let ox_lo = max((tx - i32(p.k) + s) / s, 0);
  let ox_hi = min(tx / s, i32(p.ow) - 1);
  var acc = 0.0;
  for (var oy = oy_lo; oy <= oy_hi; oy++) {
    for (var ox = ox_lo; ox <= ox_hi; ox++) {
      let o = (plane * p.oh + u32(oy)) * p.ow + u32(ox);
      if (argmax[o] == idx) { acc += dy[o]; }
    }
  }
  dx[i] = acc;
}

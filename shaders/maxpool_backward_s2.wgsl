// Backward of maxpool_forward.wgsl for stride 2 (ResNet's 3×3 stride-2 pool): one thread per
// 2×2 block of input pixels (plane, by, bx). The windows that can hold those pixels' maxima are
// the few whose rows and columns meet the block; each window's argmax is compared with the
// four pixels' flat indices, so there is no division per pixel and each argmax and dy value is
// loaded about once per block instead of once per pixel that could own it. Deterministic, every
// input pixel written exactly once (zero when it won no window).
// Params and bindings: maxpool_backward_bindings.wgsl.

// fn udiv(i, d) comes from udiv.wgsl.

// First window (along one axis) whose span [2o - pad, 2o - pad + k) reaches coordinate c.
fn first_window(c: u32) -> u32 {
  let t = i32(c + p.pad) - i32(p.k) + 2;
  return u32(max(t, 0)) / 2u;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let bw = (p.w + 1u) / 2u;
  let bh = (p.h + 1u) / 2u;
  if (i >= p.planes * bh * bw) { return; }
  let row = udiv(i, bw);
  let bx = i - row * bw;
  let plane = udiv(row, bh);
  let by = row - plane * bh;
  let iy = 2u * by;
  let ix = 2u * bx;
  let p00 = iy * p.w + ix;
  // Windows meeting rows iy..iy+1 and columns ix..ix+1.
  let oy0 = first_window(iy);
  let oy1 = min((iy + 1u + p.pad) / 2u, p.oh - 1u);
  let ox0 = first_window(ix);
  let ox1 = min((ix + 1u + p.pad) / 2u, p.ow - 1u);
  var acc = vec4f(0.0); // pixels (iy, ix), (iy, ix+1), (iy+1, ix), (iy+1, ix+1)
  let at = vec4u(p00, p00 + 1u, p00 + p.w, p00 + p.w + 1u);
  for (var oy = oy0; oy <= oy1; oy++) {
    for (var ox = ox0; ox <= ox1; ox++) {
      let o = (plane * p.oh + oy) * p.ow + ox;
      acc += select(vec4f(0.0), vec4f(dy[o]), vec4u(argmax[o]) == at);
    }
  }
  let base = plane * p.h * p.w + p00;
  dx[base] = acc.x;
  if (ix + 1u < p.w) { dx[base + 1u] = acc.y; }
  if (iy + 1u < p.h) {
    dx[base + p.w] = acc.z;
    if (ix + 1u < p.w) { dx[base + p.w + 1u] = acc.w; }
  }
}

// Max-pool backward for non-overlapping windows (stride = kernel, no padding), one thread per
// window: writes dy to the window's argmax and zeros to its other pixels, and the threads of
// the last window row/column also zero the input pixels no window covers. Each input pixel is
// written exactly once, with 2 loads per window instead of 2 per pixel (loads dominate on
// software adapters).
// Params and bindings: maxpool_backward_bindings.wgsl.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.planes * p.oh * p.ow) { return; }
  let ox = i % p.ow;
  let t = i / p.ow;
  let oy = t % p.oh;
  let plane = t / p.oh;
  let base = plane * p.h * p.w;
  let best = argmax[i];
  let g = dy[i];
  // Rows and columns this thread owns: its window, extended to the edge for the last ones.
  let y0 = oy * p.k;
  let x0 = ox * p.k;
  let y1 = select(y0 + p.k, p.h, oy == p.oh - 1u);
  let x1 = select(x0 + p.k, p.w, ox == p.ow - 1u);
  for (var y = y0; y < y1; y++) {
    for (var x = x0; x < x1; x++) {
      let idx = y * p.w + x;
      dx[base + idx] = select(0.0, g, idx == best);
    }
  }
}

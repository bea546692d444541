// 2×2 max-pool with stride 2 and no padding over planes of even height and width a multiple of
// 4 (the IMM nets): each thread reads two aligned vec4s (two input rows) and writes two
// outputs, instead of four scalar loads per output (loads dominate on software adapters). The
// argmax is stored as the winner's position in its window, 0..3 (row-major), which is all the
// matching backward (maxpool2x2_backward.wgsl) needs. Strict '>' keeps the first maximum, as
// the general kernel and the CPU reference do.
struct Params { pairs: u32, q: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y: array<vec2f>;
@group(0) @binding(3) var<storage, read_write> argmax: array<vec2u>;

fn best4(a: f32, b: f32, c: f32, d: f32) -> vec2f {
  var v = a;
  var at = 0.0;
  if (b > v) { v = b; at = 1.0; }
  if (c > v) { v = c; at = 2.0; }
  if (d > v) { v = d; at = 3.0; }
  return vec2f(v, at);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  // Thread t owns output pair t; q = vec4s per input row = output pairs per output row, and
  // output row r = t / q reads input rows 2r and 2r + 1, so its first vec4 is t + r·q.
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= p.pairs) { return; }
  let r = udiv(t, p.q);
  let top = x[t + r * p.q];
  let bottom = x[t + r * p.q + p.q];
  let a = best4(top.x, top.y, bottom.x, bottom.y);
  let b = best4(top.z, top.w, bottom.z, bottom.w);
  y[t] = vec2f(a.x, b.x);
  argmax[t] = vec2u(u32(a.y), u32(b.y));
}

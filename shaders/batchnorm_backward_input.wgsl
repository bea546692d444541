// BatchNorm input gradient, W values (one V) per thread, all in one channel plane. Training
// mode (batch statistics):
//   dx = gamma·s/M · (M·g − dbeta − x̂·dgamma),  x̂ = (x − mean)·s
// Eval mode (flags bit 0, running statistics are constants): dx = g·gamma·s.
// g is dy masked by the fused ReLU when flags bit 1 is set.
struct Params { total: u32, c: u32, hw: u32, flags: u32, m: f32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> y: array<V>;
@group(0) @binding(3) var<storage, read> dy: array<V>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> dgamma: array<f32>;
@group(0) @binding(7) var<storage, read> dbeta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<V>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i * W >= p.total) { return; }
  let plane = udiv(i * W, p.hw);
  let c = plane - udiv(plane, p.c) * p.c;
  var g = dy[i];
  if ((p.flags & 2u) != 0u) { g = select(g, V(0.0), y[i] <= V(0.0)); }
  if ((p.flags & 1u) != 0u) {
    dx[i] = g * (gamma[c] * inverseSqrt(stats[p.c + c] + p.eps));
    return;
  }
  let s = stats[p.c + c];
  let xhat = (x[i] - V(stats[c])) * s;
  dx[i] = (gamma[c] * s / p.m) * (p.m * g - V(dbeta[c]) - xhat * dgamma[c]);
}

// y = (x - mean[c]) * s[c] * gamma[c] + beta[c], optionally followed by ReLU (flags bit 1),
// W values (one V) per thread, all in one channel plane.
// Training mode passes the batch mean and 1/std; eval mode (flags bit 0) passes the running
// mean and running variance, turned into 1/sqrt(var + eps) here.
struct Params { total: u32, c: u32, hw: u32, flags: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<V>;
// stats = [mean (c), s (c)]: s is 1/std in training mode, the running variance in eval mode.
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<V>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i * W >= p.total) { return; }
  let plane = udiv(i * W, p.hw);
  let c = plane - udiv(plane, p.c) * p.c;
  var s = stats[p.c + c];
  if ((p.flags & 1u) != 0u) { s = inverseSqrt(s + p.eps); }
  var v = (x[i] - V(stats[c])) * (s * gamma[c]) + V(beta[c]);
  if ((p.flags & 2u) != 0u) { v = max(v, V(0.0)); }
  y[i] = v;
}

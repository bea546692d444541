// BatchNorm training statistics, one workgroup per channel, reading V (W values) at a time: batch mean and biased variance
// (two passes over the channel for accuracy), saved as mean and 1/sqrt(var + eps) for the
// normalise and backward kernels, and the running estimates updated in place with the
// unbiased variance (PyTorch's convention).
struct Params { n: u32, c: u32, hw: u32, update_running: u32, momentum: f32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<V>;
// stats = [mean (c values), 1/sqrt(var + eps) (c values)]
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_var: array<f32>;

// fn reduce(lid, v) comes from workgroup_sum.wgsl.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  // Uniform control flow: every invocation of the group has the same c.
  let valid = c < p.c;
  let ch = min(c, p.c - 1u);
  let m = f32(p.n * p.hw);
  var s = 0.0;
  for (var n = 0u; n < p.n; n++) {
    let base = (n * p.c + ch) * p.hw / W;
    for (var i = lid; i < p.hw / W; i += 64u) { s += hsum(x[base + i]); }
  }
  let mu = reduce(lid, s) / m;
  var q = 0.0;
  for (var n = 0u; n < p.n; n++) {
    let base = (n * p.c + ch) * p.hw / W;
    for (var i = lid; i < p.hw / W; i += 64u) {
      let d = x[base + i] - V(mu);
      q += hsum(d * d);
    }
  }
  let var_biased = reduce(lid, q) / m;
  if (lid == 0u && valid) {
    stats[ch] = mu;
    stats[p.c + ch] = inverseSqrt(var_biased + p.eps);
    if (p.update_running != 0u) {
      let unbiased = var_biased * m / max(m - 1.0, 1.0);
      running_mean[ch] = (1.0 - p.momentum) * running_mean[ch] + p.momentum * mu;
      running_var[ch] = (1.0 - p.momentum) * running_var[ch] + p.momentum * unbiased;
    }
  }
}

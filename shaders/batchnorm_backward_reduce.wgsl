// BatchNorm backward, per channel (one workgroup each, reading V (W values) at a time): dbeta = Σ g, dgamma = Σ g·x̂, where
// g is dy masked by the fused ReLU (flags bit 1, from the output y) and x̂ = (x - mean)·s.
// stats = [mean (c), s (c)]; flags bit 0: eval mode (s is the running variance).
struct Params { n: u32, c: u32, hw: u32, flags: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> y: array<V>;
@group(0) @binding(3) var<storage, read> dy: array<V>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;

// fn reduce(lid, v) comes from workgroup_sum.wgsl.

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  let valid = c < p.c;
  let ch = min(c, p.c - 1u);
  var s = stats[p.c + ch];
  if ((p.flags & 1u) != 0u) { s = inverseSqrt(s + p.eps); }
  let mu = stats[ch];
  let relu = (p.flags & 2u) != 0u;
  var sg = 0.0;
  var sgx = 0.0;
  for (var n = 0u; n < p.n; n++) {
    let base = (n * p.c + ch) * p.hw / W;
    for (var i = lid; i < p.hw / W; i += 64u) {
      let j = base + i;
      var g = dy[j];
      if (relu) { g = select(g, V(0.0), y[j] <= V(0.0)); }
      sg += hsum(g);
      sgx += hsum(g * (x[j] - V(mu))) * s;
    }
  }
  let tb = reduce(lid, sg);
  let tg = reduce(lid, sgx);
  if (lid == 0u && valid) {
    dbeta[ch] = tb;
    dgamma[ch] = tg;
  }
}

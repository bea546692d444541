// y[n, c] = mean over the H×W plane of x[n, c]   (one thread per plane)
struct Params { planes: u32, hw: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.planes) { return; }
  var s = 0.0;
  let base = i * p.hw;
  for (var k = 0u; k < p.hw; k++) { s += x[base + k]; }
  y[i] = s / f32(p.hw);
}

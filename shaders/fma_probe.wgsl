// Compute-ceiling probe for the benchmark: each thread runs `iters` rounds of 8 independent
// vec4 multiply-adds on registers (no memory traffic in the loop) and stores one value so the
// work cannot be optimised away. FLOPs = threads × iters × 8 × 4 × 2.
struct Params { threads: u32, iters: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.threads) { return; }
  let s = f32(i) * 1e-7;
  var a0 = vec4f(s, s + 1.0, s + 2.0, s + 3.0);
  var a1 = a0 + 0.1;
  var a2 = a0 + 0.2;
  var a3 = a0 + 0.3;
  var a4 = a0 + 0.4;
  var a5 = a0 + 0.5;
  var a6 = a0 + 0.6;
  var a7 = a0 + 0.7;
  let m = vec4f(0.999999);
  let c = vec4f(1e-6);
  for (var k = 0u; k < p.iters; k++) {
    a0 = fma(a0, m, c);
    a1 = fma(a1, m, c);
    a2 = fma(a2, m, c);
    a3 = fma(a3, m, c);
    a4 = fma(a4, m, c);
    a5 = fma(a5, m, c);
    a6 = fma(a6, m, c);
    a7 = fma(a7, m, c);
  }
  let r = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
  out[i] = r.x + r.y + r.z + r.w;
}

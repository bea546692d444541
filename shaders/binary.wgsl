// out[i] = a[i] (op) b[i]; op 0: add, 1: multiply, 2: subtract.
// `a` may alias `out` only through the in-place variant (binary_inplace.wgsl).
struct Params { n: u32, op: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n) { return; }
  let x = a[i];
  let y = b[i];
  var r = x + y;
  if (p.op == 1u) { r = x * y; } else if (p.op == 2u) { r = x - y; }
  out[i] = r;
}

// C[m×n] = a[m] ⊗ b[n] (a GEMM with k = 1: a linear layer's weight gradient at batch 1), with
// n a multiple of 4: each thread writes 4 rows × one vec4 of columns from 4 + 1 loads.
struct Params { m: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4f>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let n4 = p.n / 4u;
  if (i >= ((p.m + 3u) / 4u) * n4) { return; }
  let rb = i / n4;
  let col = i - rb * n4;
  let x = b[col];
  for (var q = 0u; q < 4u; q++) {
    let r = rb * 4u + q;
    if (r >= p.m) { return; }
    c[r * n4 + col] = a[r] * x;
  }
}

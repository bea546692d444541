// C[m×n] = A[m×k]·B[k×n] (+ bias[n]) (ReLU) (+= C) for large row-major A and B with k and n
// multiples of 4. On llvmpipe a storage load is a loop over the SIMD lanes costing tens of FMAs
// whatever its width, so each thread keeps an R×4V block of C in registers (R rows, V vec4
// columns; spilling is cheaper than loading): a k-step of 4 costs R + 4V vec4 loads for 16·R·V
// multiply-adds. flags: bit 0 bias, bit 1 ReLU, bit 2 accumulate.
//
// Template: nn/ops/linear.ts fills the {{...}} holes with code unrolled for one tile shape.
struct Params { m: u32, n: u32, k: u32, flags: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> c: array<vec4f>;

fn store(m: u32, c4: u32, v: vec4f) {
  let n4 = p.n / 4u;
  if (m >= p.m || c4 >= n4) { return; }
  var x = v;
  if ((p.flags & 1u) != 0u) { x += bias[c4]; }
  if ((p.flags & 2u) != 0u) { x = max(x, vec4f(0.0)); }
  let o = m * n4 + c4;
  if ((p.flags & 4u) != 0u) { x += c[o]; }
  c[o] = x;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let n4 = p.n / 4u;
  // Threads per row block: whole runs of L, a run covering L·V vec4 columns interleaved.
  let nb = (n4 + {{V}}u * {{L}}u - 1u) / ({{V}}u * {{L}}u) * {{L}}u;
  let mb = (p.m + {{R}}u - 1u) / {{R}}u;
  if (i >= nb * mb) { return; }
  let t = i % nb;
  let c0 = (t / {{L}}u) * {{V}}u * {{L}}u + t % {{L}}u;
  let m0 = (i / nb) * {{R}}u;
  let k4 = p.k / 4u;
  // Rows and columns past the edge read clamped (valid) addresses; their results are not stored.
{{INIT}}
  for (var kk = 0u; kk < k4; kk++) {
{{BODY}}
  }
{{STORE}}
}

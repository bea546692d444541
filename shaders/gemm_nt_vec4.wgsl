// C[m×n] = A[m×k] · B[n×k]ᵀ (+ bias[n]) (ReLU) for row-major A and B with k a multiple of 4:
// both operands run along k, so each thread reads them as vec4s, computing one row × 4
// columns (5 vector loads per 16 multiply-adds). This is the linear layer's forward x·Wᵀ at
// small batch, where the 4×8-tile kernel would need a transposed, strided W.
// flags: bit 0 bias, bit 1 ReLU.
struct Params { m: u32, n: u32, k: u32, flags: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let nb = (p.n + 3u) / 4u;
  if (i >= p.m * nb) { return; }
  let row = i / nb;
  let n0 = (i - row * nb) * 4u;
  let k4 = p.k / 4u;
  let ra = row * k4;
  // Columns past n read the last row of B (clamped); their sums are not stored.
  let rb0 = min(n0, p.n - 1u) * k4;
  let rb1 = min(n0 + 1u, p.n - 1u) * k4;
  let rb2 = min(n0 + 2u, p.n - 1u) * k4;
  let rb3 = min(n0 + 3u, p.n - 1u) * k4;
  var acc = vec4f(0.0);
  for (var kk = 0u; kk < k4; kk++) {
    let x = a[ra + kk];
    acc += vec4f(dot(x, b[rb0 + kk]), dot(x, b[rb1 + kk]), dot(x, b[rb2 + kk]), dot(x, b[rb3 + kk]));
  }
  for (var q = 0u; q < 4u; q++) {
    let n = n0 + q;
    if (n >= p.n) { return; }
    var v = acc[q];
    if ((p.flags & 1u) != 0u) { v += bias[n]; }
    if ((p.flags & 2u) != 0u) { v = max(v, 0.0); }
    c[row * p.n + n] = v;
  }
}

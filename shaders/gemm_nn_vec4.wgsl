// C[m×n] = A[m×k]·B[k×n] (+ bias[n]) (ReLU) (+= C) for row-major A and B with k and n
// multiples of 4: each thread keeps a 4×8 block of C in registers and reads A and B as
// vec4s, so a k-step of 4 costs 12 vector loads for 128 multiply-adds (loads are
// what costs on software adapters). flags: bit 0 bias, bit 1 ReLU, bit 2 accumulate.
struct Params { m: u32, n: u32, k: u32, flags: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn store(m: u32, n0: u32, v: vec4f) {
  if (m >= p.m) { return; }
  for (var q = 0u; q < 4u; q++) {
    let n = n0 + q;
    if (n >= p.n) { return; }
    var x = v[q];
    if ((p.flags & 1u) != 0u) { x += bias[n]; }
    if ((p.flags & 2u) != 0u) { x = max(x, 0.0); }
    let o = m * p.n + n;
    if ((p.flags & 4u) != 0u) { x += c[o]; }
    c[o] = x;
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let nb = (p.n + 7u) / 8u;
  let mb = (p.m + 3u) / 4u;
  if (i >= nb * mb) { return; }
  let n0 = (i % nb) * 8u;
  let m0 = (i / nb) * 4u;
  let k4 = p.k / 4u;
  let n4 = p.n / 4u;
  let mlast = p.m - 1u;
  let ra0 = min(m0 + 0u, mlast) * k4;
  let ra1 = min(m0 + 1u, mlast) * k4;
  let ra2 = min(m0 + 2u, mlast) * k4;
  let ra3 = min(m0 + 3u, mlast) * k4;
  let cb0 = min(n0 / 4u + 0u, n4 - 1u);
  let cb1 = min(n0 / 4u + 1u, n4 - 1u);
  var acc0_0 = vec4f(0.0);
  var acc0_1 = vec4f(0.0);
  var acc1_0 = vec4f(0.0);
  var acc1_1 = vec4f(0.0);
  var acc2_0 = vec4f(0.0);
  var acc2_1 = vec4f(0.0);
  var acc3_0 = vec4f(0.0);
  var acc3_1 = vec4f(0.0);
  for (var kk = 0u; kk < k4; kk++) {
    let a0 = a[ra0 + kk];
    let a1 = a[ra1 + kk];
    let a2 = a[ra2 + kk];
    let a3 = a[ra3 + kk];
    let kb = kk * 4u * n4;
    let b0_0 = b[kb + 0u * n4 + cb0];
    let b0_1 = b[kb + 0u * n4 + cb1];
    let b1_0 = b[kb + 1u * n4 + cb0];
    let b1_1 = b[kb + 1u * n4 + cb1];
    let b2_0 = b[kb + 2u * n4 + cb0];
    let b2_1 = b[kb + 2u * n4 + cb1];
    let b3_0 = b[kb + 3u * n4 + cb0];
    let b3_1 = b[kb + 3u * n4 + cb1];
    acc0_0 += a0.x * b0_0 + a0.y * b1_0 + a0.z * b2_0 + a0.w * b3_0;
    acc0_1 += a0.x * b0_1 + a0.y * b1_1 + a0.z * b2_1 + a0.w * b3_1;
    acc1_0 += a1.x * b0_0 + a1.y * b1_0 + a1.z * b2_0 + a1.w * b3_0;
    acc1_1 += a1.x * b0_1 + a1.y * b1_1 + a1.z * b2_1 + a1.w * b3_1;
    acc2_0 += a2.x * b0_0 + a2.y * b1_0 + a2.z * b2_0 + a2.w * b3_0;
    acc2_1 += a2.x * b0_1 + a2.y * b1_1 + a2.z * b2_1 + a2.w * b3_1;
    acc3_0 += a3.x * b0_0 + a3.y * b1_0 + a3.z * b2_0 + a3.w * b3_0;
    acc3_1 += a3.x * b0_1 + a3.y * b1_1 + a3.z * b2_1 + a3.w * b3_1;
  }
  store(m0 + 0u, n0 + 0u, acc0_0);
  store(m0 + 0u, n0 + 4u, acc0_1);
  store(m0 + 1u, n0 + 0u, acc1_0);
  store(m0 + 1u, n0 + 4u, acc1_1);
  store(m0 + 2u, n0 + 0u, acc2_0);
  store(m0 + 2u, n0 + 4u, acc2_1);
  store(m0 + 3u, n0 + 0u, acc3_0);
  store(m0 + 3u, n0 + 4u, acc3_1);
}

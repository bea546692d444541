// C[m, n] = sum_k A(m, k) * B(k, n) (+ bias[n]) (ReLU) (+= C), with A and B addressed through
// strides so one kernel serves x·Wᵀ, dy·W and dyᵀ·x without transposing copies.
// Each thread computes a 4×4 block of C held in registers.
// flags: bit 0 = add bias, bit 1 = ReLU, bit 2 = accumulate into C.
struct Params {
  m: u32, n: u32, k: u32, sam: u32,
  sak: u32, sbk: u32, sbn: u32, flags: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let nb = (p.n + 3u) / 4u;
  let mb = (p.m + 3u) / 4u;
  if (i >= nb * mb) { return; }
  let n0 = (i % nb) * 4u;
  let m0 = (i / nb) * 4u;
  // Clamped indices keep loads in range for the ragged edge; stores are masked below.
  let mlast = p.m - 1u;
  let nlast = p.n - 1u;
  let ra = vec4u(min(m0, mlast), min(m0 + 1u, mlast), min(m0 + 2u, mlast), min(m0 + 3u, mlast)) *
    p.sam;
  let cb = vec4u(min(n0, nlast), min(n0 + 1u, nlast), min(n0 + 2u, nlast), min(n0 + 3u, nlast)) *
    p.sbn;
  var c0 = vec4f(0.0);
  var c1 = vec4f(0.0);
  var c2 = vec4f(0.0);
  var c3 = vec4f(0.0);
  for (var k = 0u; k < p.k; k++) {
    let ka = k * p.sak;
    let kb = k * p.sbk;
    let bv = vec4f(b[kb + cb.x], b[kb + cb.y], b[kb + cb.z], b[kb + cb.w]);
    c0 += a[ra.x + ka] * bv;
    c1 += a[ra.y + ka] * bv;
    c2 += a[ra.z + ka] * bv;
    c3 += a[ra.w + ka] * bv;
  }
  var rows = array<vec4f, 4>(c0, c1, c2, c3);
  for (var r = 0u; r < 4u; r++) {
    let m = m0 + r;
    if (m >= p.m) { break; }
    for (var q = 0u; q < 4u; q++) {
      let n = n0 + q;
      if (n >= p.n) { break; }
      var v = rows[r][q];
      if ((p.flags & 1u) != 0u) { v += bias[n]; }
      if ((p.flags & 2u) != 0u) { v = max(v, 0.0); }
      let o = m * p.n + n;
      if ((p.flags & 4u) != 0u) { v += c[o]; }
      c[o] = v;
    }
  }
}

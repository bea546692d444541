// Backward of a linear layer at batch 1 in one dispatch (in features k a multiple of 4), for the
// IMM networks, whose steps are mostly fixed per-dispatch cost.
// g = dy, masked by y > 0 for a fused ReLU as relu_backward.wgsl does.
//   threads [0, ⌈n/4⌉ · k/4): dW = g ⊗ x as outer_product.wgsl (4 rows × one vec4 column each);
//     those of column 0 also write db = g;
//   the next xthreads: dx = g · W, for n a multiple of 4 as row 0 of gemm_nn_vec4.wgsl (8 columns
//     each), else as row 0 of gemm.wgsl (4 columns each), the kernels gemm() would pick.
// Each value is the same expression, summed in the same order, as in those kernels, so the
// results equal the three-dispatch path bit for bit.
struct Params { n: u32, k: u32, relu: u32, xthreads: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<vec4f>;
@group(0) @binding(2) var<storage, read> y: array<vec4f>;
@group(0) @binding(3) var<storage, read> x: array<vec4f>;
@group(0) @binding(4) var<storage, read> w: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> dw: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> db: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;

fn grad4(j4: u32) -> vec4f {
  let d = dy[j4];
  if (p.relu != 0u) { return select(vec4f(0.0), d, y[j4] > vec4f(0.0)); }
  return d;
}

fn grad1(r: u32) -> f32 {
  let d = dy[r >> 2u][r & 3u];
  if (p.relu != 0u) { return select(0.0, d, y[r >> 2u][r & 3u] > 0.0); }
  return d;
}

fn store_dx(n0: u32, v: vec4f) {
  for (var q = 0u; q < 4u; q++) {
    if (n0 + q >= p.k) { return; }
    dx[n0 + q] = v[q];
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let k4 = p.k / 4u;
  let n4 = p.n / 4u;
  let wthreads = ((p.n + 3u) / 4u) * k4;
  if (i < wthreads) {
    let rb = i / k4;
    let col = i - rb * k4;
    let xv = x[col];
    for (var q = 0u; q < 4u; q++) {
      let r = rb * 4u + q;
      if (r >= p.n) { return; }
      let g = grad1(r);
      dw[r * k4 + col] = g * xv;
      if (col == 0u) { db[r] = g; }
    }
    return;
  }
  let t = i - wthreads;
  if (t >= p.xthreads) { return; }
  if (p.n % 4u != 0u) {
    // gemm.wgsl's sum: one product of g[r] and 4 columns of W per step.
    let c4 = t;
    var c0 = vec4f(0.0);
    for (var r = 0u; r < p.n; r++) {
      c0 += grad1(r) * w[r * k4 + c4];
    }
    store_dx(c4 * 4u, c0);
    return;
  }
  let n0 = t * 8u;
  let cb0 = min(n0 / 4u + 0u, k4 - 1u);
  let cb1 = min(n0 / 4u + 1u, k4 - 1u);
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  for (var kk = 0u; kk < n4; kk++) {
    let a0 = grad4(kk);
    let kb = kk * 4u * k4;
    let b0_0 = w[kb + 0u * k4 + cb0];
    let b0_1 = w[kb + 0u * k4 + cb1];
    let b1_0 = w[kb + 1u * k4 + cb0];
    let b1_1 = w[kb + 1u * k4 + cb1];
    let b2_0 = w[kb + 2u * k4 + cb0];
    let b2_1 = w[kb + 2u * k4 + cb1];
    let b3_0 = w[kb + 3u * k4 + cb0];
    let b3_1 = w[kb + 3u * k4 + cb1];
    acc0 += a0.x * b0_0 + a0.y * b1_0 + a0.z * b2_0 + a0.w * b3_0;
    acc1 += a0.x * b0_1 + a0.y * b1_1 + a0.z * b2_1 + a0.w * b3_1;
  }
  store_dx(n0, acc0);
  store_dx(n0 + 4u, acc1);
}

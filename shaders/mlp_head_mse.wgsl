// A batch-1 network's fully connected head and its MSE loss in one workgroup:
//   h = relu(W1·x + b1), out = W2·h + b2, loss = mean((out - tgt)²),
// and, with p.grad = 1, dout = 2 (out - tgt) / n (the gradient of a backward seeded with ones).
// Three dispatches (two GEMVs and the loss) become one: at batch 1 each of them ran as a single
// workgroup anyway. Every sum is rounded as in gemm_nt_vec4.wgsl (per output, vec4 dots in k
// order, then bias, then ReLU) and regression_loss_forward.wgsl (thread lid takes outputs lid, lid + 64, …,
// then the fixed tree of workgroup_sum.wgsl), so the results are the same bits.
// h and out are written for the backward (the ReLU mask and the loss gradient).
struct Params { k1: u32, n1: u32, n2: u32, grad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w1: array<vec4f>;
@group(0) @binding(3) var<storage, read> b1: array<f32>;
@group(0) @binding(4) var<storage, read> w2: array<vec4f>;
@group(0) @binding(5) var<storage, read> b2: array<f32>;
@group(0) @binding(6) var<storage, read> tgt: array<f32>;
@group(0) @binding(7) var<storage, read_write> h: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;
@group(0) @binding(9) var<storage, read_write> loss: array<f32>;
@group(0) @binding(10) var<storage, read_write> dout: array<f32>;

// fn reduce(lid, v) comes from workgroup_sum.wgsl.

const MAX_HIDDEN4 = 256u;
var<workgroup> hw: array<vec4f, MAX_HIDDEN4>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  let k4 = p.k1 / 4u;
  for (var j = lid; j < p.n1; j += 64u) {
    let rb = j * k4;
    var acc = 0.0;
    for (var kk = 0u; kk < k4; kk++) { acc += dot(x[kk], w1[rb + kk]); }
    let v = max(acc + b1[j], 0.0);
    h[j] = v;
    hw[j / 4u][j % 4u] = v;
  }
  workgroupBarrier();
  let h4 = p.n1 / 4u;
  var sq = 0.0;
  for (var i = lid; i < p.n2; i += 64u) {
    let rb = i * h4;
    var acc = 0.0;
    for (var kk = 0u; kk < h4; kk++) { acc += dot(hw[kk], w2[rb + kk]); }
    let o = acc + b2[i];
    out[i] = o;
    let d = o - tgt[i];
    sq += d * d;
    // Rounded as regression_loss_backward.wgsl with dloss = 1.
    if (p.grad != 0u) { dout[i] = 2.0 * d / f32(p.n2); }
  }
  let total = reduce(lid, sq);
  if (lid == 0u) { loss[0] = total / f32(p.n2); }
}

// loss[0] = mean of {{TERM}} over d = pred - tgt (MSE: d², L1: |d|), reduced by one workgroup in a
// fixed order. With p.grad = 1 it also writes dpred = {{GRAD}} / n, the gradient for a backward
// pass seeded with ones (a training step's loss), which then needs no dispatch of its own.
struct Params { n: u32, grad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> tgt: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dpred: array<f32>;

// fn reduce(lid, v) comes from workgroup_sum.wgsl.

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = lid; i < p.n; i += 64u) {
    let d = pred[i] - tgt[i];
    acc += {{TERM}};
    // Rounded as regression_loss_backward.wgsl with dloss = 1: a ones seed gives the same bits.
    if (p.grad != 0u) { dpred[i] = {{GRAD}} / f32(p.n); }
  }
  let total = reduce(lid, acc);
  if (lid == 0u) { loss[0] = total / f32(p.n); }
}

// SGD with optional momentum and L2 weight decay (PyTorch's formulation):
// g' = g + wd w; buf = momentum buf + g'; w -= lr buf (or lr g' without momentum).
struct Params { n: u32, use_momentum: u32, lr: f32, momentum: f32, wd: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf: array<f32>;
@group(0) @binding(4) var<storage, read> state: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n) { return; }
  let g = grad[i] + p.wd * param[i];
  var d = g;
  if (p.use_momentum != 0u) {
    // state[0] is the step count: the first step initialises the buffer with g, as PyTorch does.
    d = select(p.momentum * buf[i] + g, g, state[0] <= 1.0);
    buf[i] = d;
  }
  param[i] = param[i] - p.lr * state[1] * d;
}

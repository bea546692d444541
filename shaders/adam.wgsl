// One Adam (or AdamW) update of a parameter. The step count lives on the GPU (state[0]) so
// no value is written from the CPU per step; bias corrections are computed here.
// decoupled != 0: AdamW weight decay; else L2 added to the gradient (PyTorch's Adam).
struct Params { n: u32, decoupled: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, wd: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> state: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n) { return; }
  let t = state[0];
  let lr = p.lr * state[1];
  var g = grad[i];
  var w = param[i];
  if (p.decoupled != 0u) { w -= lr * p.wd * w; } else { g += p.wd * w; }
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let mhat = mi / (1.0 - pow(p.beta1, t));
  let vhat = vi / (1.0 - pow(p.beta2, t));
  param[i] = w - lr * mhat / (sqrt(vhat) + p.eps);
}

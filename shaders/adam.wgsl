// One Adam (or AdamW) update of a parameter, four values per thread (vec4 loads cost about the
// same as scalar ones on software adapters). The tensors live in pooled buffers rounded up to
// 16 bytes, so the last vec4 may touch padding past the tensor's end: harmless.
// The step count lives on the GPU (state[0]) so no value is written from the CPU per step.
// decoupled != 0: AdamW weight decay; else L2 added to the gradient (PyTorch's Adam).
struct Params { n4: u32, decoupled: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, wd: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<vec4f>;
@group(0) @binding(2) var<storage, read> grad: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> m: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> v: array<vec4f>;
@group(0) @binding(5) var<storage, read> state: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n4) { return; }
  let t = state[0];
  let lr = p.lr * state[1];
  var g = grad[i];
  var w = param[i];
  if (p.decoupled != 0u) { w -= lr * p.wd * w; } else { g += p.wd * w; }
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let c1 = 1.0 / (1.0 - pow(p.beta1, t));
  let c2 = 1.0 / (1.0 - pow(p.beta2, t));
  param[i] = w - lr * (mi * c1) / (sqrt(vi * c2) + p.eps);
}

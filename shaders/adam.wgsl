// Adam (or AdamW) update of a run of parameters in one dispatch, four values per thread
// (vec4 loads cost about the same as scalar ones on software adapters). The parameters, their
// gradients and the moments m and v live in buffers with one layout (nn/arena.ts): each binding
// is the same byte range of its buffer, so thread i updates vec4 i of all four. Slices are
// padded to an alignment; padding stays finite (zeros in, zeros out) and is never read as data.
// The step count lives on the GPU so no value is written from the CPU per step, in two slots
// (state[0], state[2]) used alternately: this step reads the previous count from slot
// p.slot & 3 and, in the dispatch with p.slot bit 2, thread 0 writes the new count to the other
// slot, which no thread of this step reads (no race, and no tick dispatch).
// decoupled != 0: AdamW weight decay; else L2 added to the gradient (PyTorch's Adam).
// 1 - beta and ln(beta) come from the CPU in float64: 1 - beta2 rounded from an f32 beta2 is
// off by 1.3e-5 relative, which PyTorch (scalars in double) does not do.
struct Params {
  n4: u32, decoupled: u32, lr: f32, beta1: f32,
  beta2: f32, eps: f32, wd: f32, omb1: f32,
  omb2: f32, lnb1: f32, lnb2: f32, slot: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> m: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> v: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> state: array<f32>;
@group(0) @binding(4) var<storage, read_write> param: array<vec4f>;
@group(0) @binding(5) var<storage, read> grad: array<vec4f>;

// 1 - beta^t = -expm1(t ln beta) without the cancellation of 1 - exp(y) for small |y|.
fn one_minus_pow(lnb: f32, t: f32) -> f32 {
  let y = t * lnb;
  if (abs(y) >= 0.1) { return 1.0 - exp(y); }
  return -(y * (1.0 + y / 2.0 * (1.0 + y / 3.0 * (1.0 + y / 4.0 * (1.0 + y / 5.0 * (1.0 + y / 6.0))))));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n4) { return; }
  var w = param[i];
  var g = grad[i];
  let t = state[p.slot & 3u] + 1.0;
  if (i == 0u && (p.slot & 4u) != 0u) { state[2u - (p.slot & 3u)] = t; }
  let lr = p.lr * state[1];
  if (p.decoupled != 0u) { w -= lr * p.wd * w; } else { g += p.wd * w; }
  let mi = p.beta1 * m[i] + p.omb1 * g;
  let vi = p.beta2 * v[i] + p.omb2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let c1 = 1.0 / one_minus_pow(p.lnb1, t);
  let c2 = 1.0 / one_minus_pow(p.lnb2, t);
  param[i] = w - lr * (mi * c1) / (sqrt(vi * c2) + p.eps);
}

// out[j] = sum over a in [0, outer) and k in [0, inner) of src[(a * count + j) * inner + k].
// Used for bias gradients (sum over batch and pixels) and split-K reductions; the summation
// order is fixed, so results are deterministic. If accumulate != 0, adds to out instead.
struct Params { outer: u32, count: u32, inner: u32, accumulate: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * 64u;
  if (j >= p.count) { return; }
  var acc = 0.0;
  for (var a = 0u; a < p.outer; a++) {
    let base = (a * p.count + j) * p.inner;
    for (var k = 0u; k < p.inner; k++) {
      acc += src[base + k];
    }
  }
  if (p.accumulate != 0u) { acc += out[j]; }
  out[j] = acc;
}

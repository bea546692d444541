// Sums the split-K partials of the tiled weight and bias gradients in a fixed order
// (deterministic, no float atomics): pw is [chunks, wsize], pb is [chunks, co]. Threads
// j < wsize write dw[j], the next co threads (when the bias needs a gradient) db[j - wsize].
struct Params { chunks: u32, wsize: u32, co: u32, count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pw: array<f32>;
@group(0) @binding(2) var<storage, read> pb: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * 64u;
  if (j >= p.count) { return; }
  var acc = 0.0;
  if (j < p.wsize) {
    for (var c = 0u; c < p.chunks; c++) {
      acc += pw[c * p.wsize + j];
    }
    dw[j] = acc;
  } else {
    let b = j - p.wsize;
    for (var c = 0u; c < p.chunks; c++) {
      acc += pb[c * p.co + b];
    }
    db[b] = acc;
  }
}

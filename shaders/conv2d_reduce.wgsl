// Sums the split-K partials of the tiled weight and bias gradients (reduce_partials comes from
// conv2d_reduce_partials.wgsl): count = wsize (+ co when the bias needs a gradient) threads.
struct Params { chunks: u32, wsize: u32, co: u32, count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> red_pw: array<f32>;
@group(0) @binding(2) var<storage, read> red_pb: array<f32>;
@group(0) @binding(3) var<storage, read_write> red_dw: array<f32>;
@group(0) @binding(4) var<storage, read_write> red_db: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * 64u;
  if (j < p.count) { reduce_partials(j, p.chunks, p.wsize, p.co); }
}

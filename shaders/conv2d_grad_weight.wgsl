// Split-K partial sums of the weight gradient:
// partial[chunk, co, c, ky, kx] = sum over rows r = (n, oy) in this chunk and all ox of
//   dy[n, co, oy, ox] * x[n, c, oy*stride + ky - pad, ox*stride + kx - pad].
// reduce_sum.wgsl then adds the chunks in a fixed order (deterministic, no float atomics).
struct Params {
  n: u32, ci: u32, h: u32, w: u32,
  co: u32, oh: u32, ow: u32, kh: u32,
  kw: u32, stride: u32, pad: u32, rows_per_chunk: u32,
  chunks: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let wsize = p.co * p.ci * p.kh * p.kw;
  if (i >= wsize * p.chunks) { return; }
  let widx = i % wsize;
  let chunk = i / wsize;
  let kx = widx % p.kw;
  var t = widx / p.kw;
  let ky = t % p.kh;
  t = t / p.kh;
  let c = t % p.ci;
  let co = t / p.ci;
  let rows = p.n * p.oh;
  let r0 = chunk * p.rows_per_chunk;
  let r1 = min(r0 + p.rows_per_chunk, rows);
  var acc = 0.0;
  for (var r = r0; r < r1; r++) {
    let oy = r % p.oh;
    let n = r / p.oh;
    let iy = i32(oy * p.stride + ky) - i32(p.pad);
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    let xrow = ((n * p.ci + c) * p.h + u32(iy)) * p.w;
    let grow = ((n * p.co + co) * p.oh + oy) * p.ow;
    for (var ox = 0u; ox < p.ow; ox++) {
      let ix = i32(ox * p.stride + kx) - i32(p.pad);
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      acc += dy[grow + ox] * x[xrow + u32(ix)];
    }
  }
  partial[i] = acc;
}

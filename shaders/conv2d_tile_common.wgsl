// Shared helper of the generated tiled convolution kernels (nn/ops/conv2d.ts), which also
// prepend udiv.wgsl.

// Elements a..a+3 (a < 4) of the 8 elements lo ++ hi: 4 consecutive floats at any offset from
// two aligned vec4 loads (a vec4 storage load costs about as much as a scalar one on llvmpipe).
fn window(lo: vec4f, hi: vec4f, a: u32) -> vec4f {
  let s1 = vec4f(lo.yzw, hi.x);
  let s2 = vec4f(lo.zw, hi.xy);
  let s3 = vec4f(lo.w, hi.xyz);
  return select(select(select(lo, s1, a == 1u), s2, a == 2u), s3, a == 3u);
}

// Shared helper of the generated tiled convolution kernels (nn/ops/conv2d.ts).

// i / d (i < 2^30) via float divisions: llvmpipe has no SIMD integer division (it runs one
// scalar divide per lane). The first quotient is within i/d · 2^-22 of the true one; a second
// division of the remainder and a final ±1 step make it exact.
fn udiv(i: u32, d: u32) -> u32 {
  var q = u32(f32(i) / f32(d));
  var r = i32(i) - i32(q * d);
  q = u32(i32(q) + i32(floor(f32(r) / f32(d))));
  r = i32(i) - i32(q * d);
  return select(select(q, q + 1u, r >= i32(d)), q - 1u, r < 0);
}

// Elements a..a+3 (a < 4) of the 8 elements lo ++ hi: 4 consecutive floats at any offset from
// two aligned vec4 loads (a vec4 storage load costs about as much as a scalar one on llvmpipe).
fn window(lo: vec4f, hi: vec4f, a: u32) -> vec4f {
  let s1 = vec4f(lo.yzw, hi.x);
  let s2 = vec4f(lo.zw, hi.xy);
  let s3 = vec4f(lo.w, hi.xyz);
  return select(select(select(lo, s1, a == 1u), s2, a == 2u), s3, a == 3u);
}

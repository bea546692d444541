// Exact integer division helper shared by kernels (prepended to their source in TypeScript).
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

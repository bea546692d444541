// Shared by the BatchNorm statistics kernels and the MSE loss (prepended to their source): the sum of one
// value per invocation over a 64-wide workgroup, in a fixed tree order (deterministic).
var<workgroup> part: array<f32, 64>;

fn reduce(lid: u32, v: f32) -> f32 {
  part[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  let total = part[0];
  workgroupBarrier();
  return total;
}

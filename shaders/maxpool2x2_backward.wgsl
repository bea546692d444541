// Backward of maxpool2x2_forward.wgsl: thread t routes the gradients of output pair t to the
// winners of their windows and writes zeros elsewhere, two aligned vec4 stores covering both
// windows, so every input pixel is written exactly once.
struct Params { pairs: u32, q: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<vec2f>;
@group(0) @binding(2) var<storage, read> argmax: array<vec2u>;
@group(0) @binding(3) var<storage, read_write> dx: array<vec4f>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= p.pairs) { return; }
  let r = udiv(t, p.q);
  let g = dy[t];
  let w = argmax[t];
  let z = vec2f(0.0);
  let top = vec4f(select(z, g, w == vec2u(0u)).x, select(z, g, w == vec2u(1u)).x,
                  select(z, g, w == vec2u(0u)).y, select(z, g, w == vec2u(1u)).y);
  let bottom = vec4f(select(z, g, w == vec2u(2u)).x, select(z, g, w == vec2u(3u)).x,
                     select(z, g, w == vec2u(2u)).y, select(z, g, w == vec2u(3u)).y);
  dx[t + r * p.q] = top;
  dx[t + r * p.q + p.q] = bottom;
}

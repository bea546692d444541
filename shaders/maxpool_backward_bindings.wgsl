// Parameters and bindings shared by the max-pool backward kernels (nn/ops/maxpool2d.ts
// prepends this file): dx from dy and the forward's argmax (flat input index per window).
struct Params {
  planes: u32, h: u32, w: u32, oh: u32,
  ow: u32, k: u32, stride: u32, pad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

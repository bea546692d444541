// Tiled direct convolution as a "valid" correlation over a padded input:
//   fy[n, co, oy, ox] = sum over (c, ky, kx) of fx[n, c, oy*S + ky, ox*S + kx + CS] * w[co, c, ky, kx]
// (+ bias, then ReLU, by flags bit 0 / bit 1). fx holds planes of hp rows × rw elements (vec4s,
// or floats for small unpadded inputs whose rows are not whole vec4s): usually the zero-padded
// copy made by conv2d_pack.wgsl, or the input itself when it needs no padding. Also computes
// the input gradient, with fx = padded (dilated for stride > 1) dy and the flipped, transposed
// weight.
//
// Template: nn/ops/conv2d.ts adds the bindings (fx, fwt, fbias, fy) and `main`, and fills the
// {{...}} holes with code unrolled for one kernel size and stride. On llvmpipe every storage
// load is a per-lane loop costing tens of FMAs, so each thread computes a register tile of
// TCO (4 or 8) output channels × PY rows × 4 columns and, per input channel, loads only the input
// rows the tile needs as aligned vec4s plus TCO channels' weights per tap (a vec4 per 4 when the weight
// was packed as [co/4, ci, kh, kw] vec4s). No bounds checks in the loop: the padded input covers
// every read of the tiles that overhang the output; their extra results are not stored.
struct FwParams {
  n: u32, ci: u32, co: u32, oh: u32,
  ow: u32, hp: u32, rw: u32, nbx: u32,
  nby: u32, ncb: u32, flags: u32, threads: u32,
}

fn tile_forward(i: u32) {
  if (i >= p.fw.threads) { return; }
  let t = udiv(i, p.fw.nbx);
  let bx = i - t * p.fw.nbx;
  let t2 = udiv(t, p.fw.nby);
  let by = t - t2 * p.fw.nby;
  let n = udiv(t2, p.fw.ncb);
  let cb = t2 - n * p.fw.ncb;
  let oy0 = by * {{PY}}u;
  let ox0 = bx * 4u;
  let co0 = cb * {{TCO}}u;
  // Input rows of this tile start at row oy0*S and column ox0*S.
  let rw = p.fw.rw;
  var xi = (n * p.fw.ci * p.fw.hp + oy0 * {{S}}u) * rw + bx * {{XSTEP}}u;
  let xplane = p.fw.hp * rw;
{{WINIT}}
{{DECL}}
  for (var c = 0u; c < p.fw.ci; c++) {
{{BODY}}
    xi += xplane;
    wi += {{KK}}u;
  }
  // Epilogue: bias, ReLU, and stores masked to the real output.
  let co = p.fw.co;
  let oplane = p.fw.oh * p.fw.ow;
  let ob = (n * co + co0) * oplane + oy0 * p.fw.ow + ox0;
  let relu = (p.fw.flags & 2u) != 0u;
{{STORE}}
}

// Tiled weight and bias gradients, split-K over output rows r = (n, oy):
//   gpw[chunk, co, c, ky, kx] = sum over r in the chunk and all ox of
//     dy[n, co, oy, ox] * gx[n, c, oy*S + ky, ox*S + kx]
//   gpb[chunk, co] = sum over the same (n, oy, ox) of dy (written by the c = 0 threads).
// gx is the padded input (conv2d_pack.wgsl) or the unpadded input itself, as vec4s or floats
// (rows of rw elements). dy is read from gdy: normally the padded, ReLU-masked copy (planes of
// hpd × wpd vec4s, dy[0, 0] at row ptd, vec4 pld4), whose columns past ow are zero, so whole
// 4-column chunks are summed without masks; or (first layers, whose input needs no gradient)
// dy itself (realigned from vec4s, rows of wpd = ow floats), masked here by column and, with
// flags bit 0, by gy > 0 (fused ReLU).
// With one chunk gpw/gpb are the gradients; otherwise conv2d_reduce.wgsl adds the chunks in a
// fixed order (deterministic, no float atomics).
//
// Template: nn/ops/conv2d.ts adds the bindings (gx, gdy, gy, gpw, gpb) and `main`, and fills the
// {{...}} holes with code unrolled for one kernel size and stride. Each thread owns TCO output
// channels × TCI input channels × all taps; per 4-column chunk it loads 4 columns of dy per output
// channel and the KH input rows the taps touch per input channel (storage loads are the cost on
// llvmpipe; FMAs are nearly free, so bigger tiles win).
struct GwParams {
  n: u32, ci: u32, co: u32, oh: u32,
  hp: u32, rw: u32, hpd: u32, wpd: u32,
  ptd: u32, pld4: u32, nch: u32, rows_per_chunk: u32,
  ncb: u32, threads: u32, ow: u32, flags: u32,
}

fn tile_grad_weight(i: u32) {
  if (i >= p.gw.threads) { return; }
  let ci = p.gw.ci;
  let co = p.gw.co;
  let ncib = (ci + {{TCI}}u - 1u) / {{TCI}}u;
  let t = udiv(i, ncib);
  let c0 = (i - t * ncib) * {{TCI}}u;
  let chunk = udiv(t, p.gw.ncb);
  let cb = t - chunk * p.gw.ncb;
  let co0 = cb * {{TCO}}u;
  let r0 = chunk * p.gw.rows_per_chunk;
  let r1 = min(r0 + p.gw.rows_per_chunk, p.gw.n * p.gw.oh);
  let dplane = p.gw.hpd * p.gw.wpd;
  let rw = p.gw.rw;
  let xplane = p.gw.hp * rw;
{{DECL}}
  var n = udiv(r0, p.gw.oh);
  var oy = r0 - n * p.gw.oh;
  for (var r = r0; r < r1; r++) {
    let drow = ((n * co) * p.gw.hpd + oy + p.gw.ptd) * p.gw.wpd + p.gw.pld4;
    let xrow = (n * ci * p.gw.hp + oy * {{S}}u) * rw;
    // Channels past co read a valid plane (clamped); their sums are never stored.
{{ROWSETUP}}
    for (var j = 0u; j < p.gw.nch; j++) {
{{BODY}}
    }
    oy++;
    if (oy == p.gw.oh) {
      oy = 0u;
      n++;
    }
  }
  let kk = {{KK}}u;
  let wbase = chunk * co * ci * kk;
{{STORE}}
}

// The split-K reduction of the tiled weight and bias gradients as a function, shared by
// conv2d_reduce.wgsl (a dispatch of its own) and conv2d_pack.wgsl (an extra job of the next
// layer's prep, saving that dispatch). Sums in a fixed order (deterministic, no float atomics):
// red_pw is [chunks, wsize], red_pb [chunks, co]; j < wsize writes red_dw[j], the next co
// values of j (when the bias needs a gradient) red_db[j - wsize]. The including kernel declares
// red_pw, red_pb (read) and red_dw, red_db (read_write).
fn reduce_partials(j: u32, chunks: u32, wsize: u32, co: u32) {
  var acc = 0.0;
  if (j < wsize) {
    for (var c = 0u; c < chunks; c++) {
      acc += red_pw[c * wsize + j];
    }
    red_dw[j] = acc;
  } else {
    let b = j - wsize;
    for (var c = 0u; c < chunks; c++) {
      acc += red_pb[c * co + b];
    }
    red_db[b] = acc;
  }
}

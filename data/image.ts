/**
 * Grayscale float images: decoding, antialiased resizing and affine warping.
 *
 * Coordinate convention used everywhere in `data/` (points, affine matrices, warps):
 * continuous pixel coordinates where pixel (i, j) covers the square [i, i+1) × [j, j+1), so its
 * centre is at (i + 0.5, j + 0.5). Under a resize from W×H to outW×outH a point (x, y) maps to
 * (x·outW/W, y·outH/H) exactly, and relative coordinates r map to pixels as r·W. Flipping is
 * x → W − x.
 *
 * @module
 */

import { imagescript } from "./imagescript.ts";
import type { Affine } from "./affine.ts";

/** A single-channel image; `data` is row-major (index y·width + x) with values in 0..1. */
export interface GrayImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Row-major pixel values, 0 (black) .. 1 (white). */
  data: Float32Array;
}

/**
 * Decodes JPEG or PNG bytes (color, gray, with or without alpha) into a {@link GrayImage} using
 * ITU-R BT.601 luma: 0.299 R + 0.587 G + 0.114 B. Alpha is ignored. Throws an Error naming `name`
 * when the bytes cannot be decoded.
 */
export async function decodeImage(bytes: Uint8Array, name: string): Promise<GrayImage> {
  const { decode } = await imagescript();
  let img: Awaited<ReturnType<typeof decode>>;
  try {
    img = await decode(bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    // The decoders are WebAssembly: a trap inside one reads "unreachable".
    const reason = bytes.length === 0
      ? "empty file"
      : /unreachable|out of bounds/i.test(why)
      ? `corrupt or truncated image data: ${why}`
      : why;
    throw new Error(`${name}: cannot decode image (${reason})`);
  }
  // imagescript returns a GIF (frame list) for GIFs; only still images are supported here.
  if (!("bitmap" in img) || !(img.width > 0) || !(img.height > 0)) {
    throw new Error(`${name}: unsupported or empty image`);
  }
  const { width, height, bitmap } = img; // RGBA, 8 bits per channel, whatever the source format
  const data = new Float32Array(width * height);
  const k = 1 / 255;
  for (let i = 0, p = 0; i < data.length; i++, p += 4) {
    data[i] = (0.299 * bitmap[p] + 0.587 * bitmap[p + 1] + 0.114 * bitmap[p + 2]) * k;
  }
  return { width, height, data };
}

/** Per-output-index source taps for one axis: `taps` entries each of index + weight. */
interface AxisTaps {
  taps: number;
  idx: Int32Array;
  w: Float32Array;
}

/** Exact box filter: output i averages source [i·s, (i+1)·s) with fractional edge coverage. */
function boxTaps(inN: number, outN: number): AxisTaps {
  const s = inN / outN;
  const taps = Math.ceil(s) + 1;
  const idx = new Int32Array(outN * taps);
  const w = new Float32Array(outN * taps);
  for (let o = 0; o < outN; o++) {
    const lo = o * s, hi = (o + 1) * s;
    let k = o * taps;
    for (let i = Math.floor(lo); i < Math.min(inN, Math.ceil(hi)); i++) {
      const cover = Math.min(hi, i + 1) - Math.max(lo, i);
      if (cover <= 0) continue;
      idx[k] = i;
      w[k++] = cover / s;
    }
  }
  return { taps, idx, w };
}

/** Bilinear taps (centre-aligned), clamped at the borders so edges do not darken. */
function bilinearTaps(inN: number, outN: number): AxisTaps {
  const idx = new Int32Array(outN * 2);
  const w = new Float32Array(outN * 2);
  for (let o = 0; o < outN; o++) {
    const c = Math.min(inN - 1, Math.max(0, (o + 0.5) * inN / outN - 0.5));
    const i0 = Math.floor(c);
    const i1 = Math.min(inN - 1, i0 + 1);
    const f = c - i0;
    idx[2 * o] = i0;
    w[2 * o] = 1 - f;
    idx[2 * o + 1] = i1;
    w[2 * o + 1] = f;
  }
  return { taps: 2, idx, w };
}

function axisTaps(inN: number, outN: number): AxisTaps {
  return outN < inN ? boxTaps(inN, outN) : bilinearTaps(inN, outN);
}

/**
 * Resizes with antialiasing, separately per axis: area averaging (exact box filter) when that axis
 * shrinks, bilinear interpolation when it grows. Point (x, y) maps to (x·outW/W, y·outH/H).
 */
export function resizeImage(img: GrayImage, outW: number, outH: number): GrayImage {
  if (!(Number.isInteger(outW) && Number.isInteger(outH) && outW > 0 && outH > 0)) {
    throw new Error(`resizeImage: bad output size ${outW}×${outH}`);
  }
  const { width: W, height: H, data: src } = img;
  if (W === outW && H === outH) return { width: W, height: H, data: src.slice() };
  // Horizontal pass: W×H → outW×H.
  const tx = axisTaps(W, outW);
  const tmp = new Float32Array(outW * H);
  for (let y = 0; y < H; y++) {
    const row = y * W, orow = y * outW;
    for (let o = 0; o < outW; o++) {
      let acc = 0;
      for (let k = o * tx.taps, e = k + tx.taps; k < e; k++) acc += tx.w[k] * src[row + tx.idx[k]];
      tmp[orow + o] = acc;
    }
  }
  // Vertical pass: outW×H → outW×outH, accumulating whole rows for cache-friendly access.
  const ty = axisTaps(H, outH);
  const out = new Float32Array(outW * outH);
  for (let o = 0; o < outH; o++) {
    const orow = o * outW;
    for (let k = o * ty.taps, e = k + ty.taps; k < e; k++) {
      const wk = ty.w[k];
      if (wk === 0) continue;
      const srow = ty.idx[k] * outW;
      for (let x = 0; x < outW; x++) out[orow + x] += wk * tmp[srow + x];
    }
  }
  return { width: outW, height: outH, data: out };
}

/**
 * Warps `img` into an `outW`×`outH` image. `m` maps OUTPUT pixel coordinates to SOURCE pixel
 * coordinates (pass the inverse of the forward transform you apply to points). Each output pixel
 * samples the source at the image of its centre (x + 0.5, y + 0.5) with bilinear interpolation;
 * source pixels outside the image count as 0 (zero padding), so samples far outside are 0.
 */
export function warpAffine(img: GrayImage, m: Affine, outW: number, outH: number): GrayImage {
  const { width: W, height: H, data: src } = img;
  const [a, b, c, d, e, f] = m;
  const out = new Float32Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    const yc = y + 0.5;
    for (let x = 0; x < outW; x++) {
      const xc = x + 0.5;
      // Source position in "index space" where pixel i's centre is at i.
      const u = a * xc + b * yc + c - 0.5;
      const v = d * xc + e * yc + f - 0.5;
      const x0 = Math.floor(u), y0 = Math.floor(v);
      if (x0 < -1 || y0 < -1 || x0 >= W || y0 >= H) continue; // all four taps outside
      const fx = u - x0, fy = v - y0;
      const inX0 = x0 >= 0, inX1 = x0 + 1 < W, inY0 = y0 >= 0, inY1 = y0 + 1 < H;
      const r0 = y0 * W, r1 = r0 + W;
      const p00 = inX0 && inY0 ? src[r0 + x0] : 0;
      const p10 = inX1 && inY0 ? src[r0 + x0 + 1] : 0;
      const p01 = inX0 && inY1 ? src[r1 + x0] : 0;
      const p11 = inX1 && inY1 ? src[r1 + x0 + 1] : 0;
      out[y * outW + x] = (1 - fy) * ((1 - fx) * p00 + fx * p10) + fy * ((1 - fx) * p01 + fx * p11);
    }
  }
  return { width: outW, height: outH, data: out };
}

// Image fixtures shared by tests: a minimal gray PNG encoder (imagescript writes only RGBA PNGs)
// and the "bright dots" images used to check that keypoints follow an image transform.
// deno-lint-ignore no-import-prefix
import { zlibSync } from "npm:fflate@0.8.3";
import type { GrayImage } from "../data/image.ts";

function crc32(b: Uint8Array): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** An 8-bit grayscale PNG (color type 0) of `w`×`h` bytes `px`, row-major. */
export function grayPng(w: number, h: number, px: Uint8Array): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
    return out;
  };
  const raw = new Uint8Array(h * (w + 1)); // filter byte 0 per row
  for (let y = 0; y < h; y++) raw.set(px.subarray(y * w, (y + 1) * w), y * (w + 1) + 1);
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, w);
  new DataView(ihdr.buffer).setUint32(4, h);
  ihdr[8] = 8; // bit depth; color type 0 = gray
  const parts = [
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlibSync(raw)),
    chunk("IEND", new Uint8Array()),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let k = 0;
  for (const p of parts) out.set(p, (k += p.length) - p.length);
  return out;
}

/** A black `w`×`h` image with one white pixel under each point of `pts` (x, y interleaved). */
export function dotImage(w: number, h: number, pts: Float32Array): GrayImage {
  const data = new Float32Array(w * h);
  for (let i = 0; i < pts.length; i += 2) data[Math.floor(pts[i + 1]) * w + Math.floor(pts[i])] = 1;
  return { width: w, height: h, data };
}

/** Centre of the brightest pixel within `r` pixels of (x, y). */
export function brightestNear(img: GrayImage, x: number, y: number, r: number): [number, number] {
  let best = -1, bx = 0, by = 0;
  for (let j = Math.floor(y) - r; j <= Math.floor(y) + r; j++) {
    for (let i = Math.floor(x) - r; i <= Math.floor(x) + r; i++) {
      if (i < 0 || j < 0 || i >= img.width || j >= img.height) continue;
      if (img.data[j * img.width + i] > best) [best, bx, by] = [img.data[j * img.width + i], i, j];
    }
  }
  return [bx + 0.5, by + 0.5];
}

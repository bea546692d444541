import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix
import { Image } from "npm:imagescript@1.3.1";
import { decodeImage, type GrayImage, resizeImage, warpAffine } from "../data/image.ts";
import { identity, translate } from "../data/affine.ts";
import { grayPng } from "./image_fixtures.ts";

/** Asserts every pixel of `img` is within `tol` of `value`. */
function assertAll(img: GrayImage, value: number, tol: number) {
  for (let i = 0; i < img.data.length; i++) {
    assert.ok(Math.abs(img.data[i] - value) <= tol, `pixel ${i} = ${img.data[i]}, want ${value}`);
  }
}

/** 48×16 RGBA image: three 16×16 blocks, pure red, green, blue. */
function rgbBlocks(): Image {
  const img = new Image(48, 16);
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 48; x++) {
      const p = 4 * (y * 48 + x), c = Math.floor(x / 16);
      img.bitmap.set([c === 0 ? 255 : 0, c === 1 ? 255 : 0, c === 2 ? 255 : 0, 255], p);
    }
  }
  return img;
}

Deno.test("image: decode gray PNG exactly", async () => {
  const px = new Uint8Array([0, 51, 102, 153, 204, 255]);
  const g = await decodeImage(grayPng(3, 2, px), "gray.png");
  assert.equal(g.width, 3);
  assert.equal(g.height, 2);
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(g.data[i] - px[i] / 255) < 1e-6);
});

Deno.test("image: color PNG uses BT.601 weights, alpha ignored", async () => {
  const img = rgbBlocks();
  img.bitmap[3] = 0; // transparent pixel: alpha must not matter
  const g = await decodeImage(await img.encode(), "rgb.png");
  assert.equal(g.width, 48);
  assert.equal(g.height, 16);
  for (const [x, want] of [[0, 0.299], [8, 0.299], [20, 0.587], [40, 0.114]]) {
    assert.ok(Math.abs(g.data[5 * 48 + x] - want) < 1e-6, `x=${x}: ${g.data[5 * 48 + x]}`);
  }
});

Deno.test("image: decode color and gray JPEGs", async () => {
  const g = await decodeImage(await rgbBlocks().encodeJPEG(95), "rgb.jpg");
  assert.equal(g.width, 48);
  // JPEG is lossy and chroma-subsampled: check block centres loosely.
  for (const [x, want] of [[8, 0.299], [24, 0.587], [40, 0.114]]) {
    assert.ok(Math.abs(g.data[8 * 48 + x] - want) < 0.03, `x=${x}: ${g.data[8 * 48 + x]}`);
  }
  const grayImg = new Image(16, 8).fill(0x808080ff);
  const gg = await decodeImage(await grayImg.encodeJPEG(95), "gray.jpg");
  assertAll(gg, 128 / 255, 0.01);
});

Deno.test("image: corrupt bytes throw an error naming the file", async () => {
  await assert.rejects(decodeImage(new Uint8Array([1, 2, 3, 4, 5]), "dir/junk.jpg"), /junk\.jpg/);
  const jpg = await new Image(32, 32).fill(0x336699ff).encodeJPEG(90);
  await assert.rejects(decodeImage(jpg.slice(0, jpg.length >> 1), "cut.jpg"), /cut\.jpg/);
});

Deno.test("image: resizing a constant image keeps it constant (down, up, mixed)", () => {
  const img = { width: 37, height: 23, data: new Float32Array(37 * 23).fill(0.3) };
  for (const [w, h] of [[10, 7], [80, 50], [50, 10], [12, 40], [37, 23]]) {
    const r = resizeImage(img, w, h);
    assert.equal(r.data.length, w * h);
    assertAll(r, 0.3, 1e-6);
  }
});

Deno.test("image: area resize of a checkerboard 2x down is 0.5; mean is preserved", () => {
  const W = 16, H = 12;
  const data = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[y * W + x] = (x + y) % 2;
  const img = { width: W, height: H, data };
  assertAll(resizeImage(img, 8, 6), 0.5, 1e-6);
  // Fractional box coverage: any downscale keeps the overall mean.
  const rnd = {
    width: 31,
    height: 17,
    data: new Float32Array(31 * 17).map((_, i) => ((i * 7919) % 13) / 13),
  };
  const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
  const r = resizeImage(rnd, 7, 5);
  assert.ok(Math.abs(mean(r.data) - mean(rnd.data)) < 1e-5);
  // 3 → 2 pixels: output 0 covers source [0, 1.5).
  const row = resizeImage({ width: 3, height: 1, data: new Float32Array([0, 1, 0.5]) }, 2, 1);
  assert.ok(Math.abs(row.data[0] - 1 / 3) < 1e-6 && Math.abs(row.data[1] - 2 / 3) < 1e-6);
});

Deno.test("image: warpAffine identity equals input; outside samples are 0", () => {
  const W = 9, H = 7;
  const img = { width: W, height: H, data: new Float32Array(W * H).map((_, i) => (i % 10) / 10) };
  assert.deepEqual(warpAffine(img, identity(), W, H).data, img.data);
  // Output→source map shifting 3 px: output x reads source x − 3, so x < 3 is outside.
  const shifted = warpAffine(img, translate(-3, 0), W, H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const want = x < 3 ? 0 : img.data[y * W + x - 3];
      assert.ok(Math.abs(shifted.data[y * W + x] - want) < 1e-6, `(${x},${y})`);
    }
  }
  assertAll(warpAffine(img, translate(100, -50), 5, 5), 0, 0);
  // Larger output than input: the extra area is zero padding.
  const big = warpAffine(img, identity(), W + 4, H + 4);
  assert.equal(big.data[(H + 2) * (W + 4) + W + 2], 0);
  assert.equal(big.data[2 * (W + 4) + 3], img.data[2 * W + 3]);
});

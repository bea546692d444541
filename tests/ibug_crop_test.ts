import assert from "node:assert/strict";
import { applyToPoints, invert } from "../data/affine.ts";
import {
  boxImageProblem,
  cropCheckedFaces,
  cropFace,
  cropFacesToBytes,
  faceCropMatrix,
  pointsToCrop,
  pointsToOriginal,
  PREFILTER_RATIO,
} from "../data/face_crop.ts";
import type { GrayImage } from "../data/image.ts";
import { Rng } from "../data/rng.ts";

function image(w: number, h: number, f: (x: number, y: number) => number): GrayImage {
  const data = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = f(x, y);
  return { width: w, height: h, data };
}

/** Centre (continuous coords) of the brightest pixel. */
function brightest(img: GrayImage): [number, number] {
  let best = -1, bi = 0;
  img.data.forEach((v, i) => {
    if (v > best) [best, bi] = [v, i];
  });
  return [(bi % img.width) + 0.5, Math.floor(bi / img.width) + 0.5];
}

Deno.test("face crop: matrix centres the box, side = 1.4 × longer side", () => {
  const box = { top: -10, left: -20, width: 60, height: 40 };
  const m = faceCropMatrix(box, 84);
  // Box centre (continuous) = (left + w/2, top + h/2) = (10, 10) → crop centre (42, 42).
  const [cx, cy] = applyToPoints(m, new Float32Array([10, 10]));
  assert.ok(Math.abs(cx - 42) < 1e-9 && Math.abs(cy - 42) < 1e-9);
  assert.ok(Math.abs(m[0] - 84 / (1.4 * 60)) < 1e-12);
  assert.equal(m[1], 0);
  assert.equal(m[3], 0);
  assert.equal(m[4], m[0]);
  // Corners of the square [cx ± 42, cy ± 42] → [0, 84].
  const c = applyToPoints(m, new Float32Array([10 - 42, 10 - 42, 10 + 42, 10 + 42]));
  for (const [i, want] of [[0, 0], [1, 0], [2, 84], [3, 84]]) {
    assert.ok(Math.abs(c[i] - want) < 1e-4);
  }
  assert.throws(() => faceCropMatrix({ top: 0, left: 0, width: 0, height: 5 }, 10), /bad box/);
});

Deno.test("face crop: truth → crop → original round trip within 1e-3 px", () => {
  const rng = new Rng(5);
  for (let t = 0; t < 50; t++) {
    const box = {
      top: rng.uniform(-100, 2000),
      left: rng.uniform(-100, 3000),
      width: rng.uniform(20, 1500),
      height: rng.uniform(20, 1500),
    };
    const size = [64, 112, 224][t % 3];
    const m = faceCropMatrix(box, size, rng.uniform(1, 2));
    const pts = Float32Array.from(
      { length: 136 },
      (_, i) => (i % 2 ? box.top + rng.uniform(-0.3, 1.3) * box.height : box.left +
        rng.uniform(-0.3, 1.3) * box.width),
    );
    const back = pointsToOriginal(m, pointsToCrop(m, pts));
    for (let i = 0; i < pts.length; i++) {
      assert.ok(Math.abs(back[i] - pts[i]) < 1e-3, `trial ${t}: ${back[i]} vs ${pts[i]}`);
    }
  }
});

Deno.test("face crop: a box partly outside the image gives zero padding, no clamping", () => {
  const img = image(50, 40, () => 1);
  const box = { top: -10, left: -20, width: 40, height: 40 }; // centre (0, 10)
  const { image: crop, matrix } = cropFace(img, box, 56); // side 56 → 1 px per px, no prefilter
  assert.ok(Math.abs(matrix[0] - 1) < 1e-12);
  assert.ok(Math.abs(matrix[2] - 28) < 1e-9 && Math.abs(matrix[5] - 18) < 1e-9); // not clamped
  const at = (x: number, y: number) => crop.data[y * 56 + x];
  // Crop pixel (x, y) shows source pixel (x − 28, y − 18).
  assert.equal(at(10, 30), 0); // source x = −18: outside
  assert.equal(at(27, 30), 0); // source x = −1: outside
  assert.ok(Math.abs(at(28, 30) - 1) < 1e-6); // source x = 0: inside
  assert.ok(Math.abs(at(40, 17) - 0) < 1e-6); // source y = −1
  assert.ok(Math.abs(at(40, 18) - 1) < 1e-6); // source y = 0
  assert.ok(Math.abs(at(55, 55) - 1) < 1e-6);
  // Entirely outside → all zero (both paths).
  for (const size of [56, 8]) {
    const far = cropFace(img, { top: 500, left: 500, width: 40, height: 40 }, size).image;
    assert.ok(far.data.every((v) => v === 0));
  }
});

Deno.test("face crop: boxImageProblem rejects boxes outside, degenerate or far too large only", () => {
  const ok = (b: { left: number; top: number; width: number; height: number }) =>
    assert.equal(boxImageProblem(b, 50, 40), null, JSON.stringify(b));
  const rejects = (b: { left: number; top: number; width: number; height: number }, re: RegExp) => {
    const p = boxImageProblem(b, 50, 40);
    assert.ok(p !== null && re.test(p), `${JSON.stringify(b)}: ${p}`);
  };
  ok({ left: 10, top: 5, width: 20, height: 20 });
  ok({ left: -20, top: -10, width: 40, height: 40 }); // partly outside (top-left)
  ok({ left: 49.5, top: 39.5, width: 30, height: 30 }); // overlaps the last pixel only
  ok({ left: -100, top: -100, width: 300, height: 300 }); // contains the whole image
  const outside = /left=.*lies entirely outside the 50×40 image/;
  rejects({ left: 50, top: 0, width: 10, height: 10 }, outside); // starts at the right edge
  rejects({ left: -10, top: 0, width: 10, height: 10 }, outside); // ends at the left edge
  rejects({ left: 0, top: 40, width: 10, height: 10 }, outside);
  rejects({ left: 0, top: -30, width: 10, height: 30 }, outside);
  rejects({ left: 500, top: 500, width: 40, height: 40 }, outside);
  rejects({ left: 0, top: 0, width: 0, height: 10 }, /non-positive size 0×10/);
  // A mistyped, enormous box (1e9 made the crop matrix singular) names the box; 8× is the limit.
  ok({ left: -150, top: -150, width: 400, height: 400 });
  rejects({ left: 0, top: 0, width: 1e9, height: 1e9 }, /width=1000000000.* is over 8× the 50×40/);
  rejects({ left: 0, top: 0, width: 10, height: 401 }, /over 8×/);
  rejects({ left: 0, top: 0, width: 10, height: -1 }, /non-positive size/);
  rejects({ left: NaN, top: 0, width: 10, height: 10 }, /not finite/);
  // cropCheckedFaces crops the good boxes exactly like cropFacesToBytes and zeros the bad ones.
  const img = image(50, 40, (x, y) => ((x + 2 * y) % 7) / 7);
  const good = { left: -5, top: 3, width: 30, height: 28 };
  const far = { left: 60, top: 3, width: 30, height: 28 };
  const { crops, problems } = cropCheckedFaces(img, [far, good], 16);
  assert.match(problems[0]!, outside);
  assert.equal(problems[1], null);
  assert.ok(crops.subarray(0, 256).every((v) => v === 0));
  assert.deepEqual(crops.subarray(256), cropFacesToBytes(img, [good], 16));
});

Deno.test("face crop: a bright dot lands where the matrix says (with and without prefilter)", () => {
  const W = 400, H = 300;
  const dot = [123, 77]; // 0-based pixel index of the dot (annotation convention)
  for (const [w, r] of [[60, 0], [300, 2]] as const) {
    // r > 0: a (2r+1)² block so the dot survives area averaging.
    const img = image(
      W,
      H,
      (x, y) => Math.abs(x - dot[0]) <= r && Math.abs(y - dot[1]) <= r ? 1 : 0,
    );
    const box = { top: 40, left: 90, width: w, height: w * 0.8 };
    const size = 64;
    const { image: crop, matrix } = cropFace(img, box, size);
    const ratio = 1 / matrix[0];
    assert.equal(ratio > PREFILTER_RATIO, r > 0);
    const [px, py] = pointsToCrop(matrix, new Float32Array(dot));
    const [bx, by] = brightest(crop);
    assert.ok(Math.hypot(bx - px, by - py) <= 0.75, `dot at (${bx},${by}), matrix (${px},${py})`);
  }
});

Deno.test("face crop: prefilter is exact on a linear ramp and removes aliasing", () => {
  // On a linear ramp, area averaging and bilinear sampling are both exact, so every crop pixel
  // must equal the ramp at the source position of its centre, whichever path is taken.
  const W = 900, H = 700;
  const f = (x: number, y: number) => (0.3 * x + 0.2 * y) / 500; // continuous coords
  const img = image(W, H, (x, y) => f(x + 0.5, y + 0.5));
  for (const width of [60, 400]) { // ratio 1.3 (no prefilter) and 8.75 (prefilter)
    const box = { top: 150, left: 200, width, height: width };
    const { image: crop, matrix } = cropFace(img, box, 64);
    const inv = invert(matrix);
    let worst = 0;
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        const [sx, sy] = applyToPoints(inv, new Float32Array([x + 0.5, y + 0.5]));
        worst = Math.max(worst, Math.abs(crop.data[y * 64 + x] - f(sx, sy)));
      }
    }
    assert.equal(1 / matrix[0] > PREFILTER_RATIO, width === 400);
    assert.ok(worst < 1e-3, `box ${width}: worst ramp error ${worst}`);
  }
  // A 1-px checkerboard shrunk 11× must come out flat gray, not a moiré of 0s and 1s.
  const checker = image(W, H, (x, y) => (x + y) % 2);
  const crop = cropFace(checker, { top: 150, left: 200, width: 500, height: 500 }, 64).image;
  let lo = 1, hi = 0;
  for (let y = 8; y < 56; y++) {
    for (let x = 8; x < 56; x++) {
      lo = Math.min(lo, crop.data[y * 64 + x]);
      hi = Math.max(hi, crop.data[y * 64 + x]);
    }
  }
  assert.ok(lo > 0.4 && hi < 0.6, `checkerboard crop range ${lo}..${hi}`);
});

Deno.test("face crop: byte crops match the float crops", () => {
  const img = image(100, 80, (x, y) => ((x * 7 + y * 3) % 50) / 49);
  const boxes = [{ top: 10, left: 10, width: 40, height: 30 }, {
    top: -5,
    left: 60,
    width: 50,
    height: 50,
  }];
  const bytes = cropFacesToBytes(img, boxes, 32);
  assert.equal(bytes.length, 2 * 32 * 32);
  boxes.forEach((b, j) => {
    const d = cropFace(img, b, 32).image.data;
    for (let i = 0; i < d.length; i++) {
      assert.ok(Math.abs(bytes[j * 1024 + i] / 255 - d[i]) <= 0.5 / 255 + 1e-6);
    }
  });
});

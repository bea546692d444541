import assert from "node:assert/strict";
import { augmentIbug, ibugAugmentOptions } from "../data/ibug_augment.ts";
import { flipPoints, IBUG68_FLIP_PERMUTATION } from "../data/keypoints.ts";
import { Rng } from "../data/rng.ts";
import { brightestNear, dotImage } from "./image_fixtures.ts";

const S = 128;
// 68 landmarks on a 9×8 grid of pixel centres, 8 px apart, in the middle of the crop.
const PTS = Float32Array.from({ length: 136 }, (_, i) => {
  const k = i >> 1;
  return i % 2 === 0 ? 32 + 8 * (k % 9) + 0.5 : 36 + 8 * Math.floor(k / 9) + 0.5;
});

const dots = () => dotImage(S, S, PTS);

Deno.test("ibug augment: options follow the brief (±10°, ±5 % shift, 0.9–1.1, flips)", () => {
  const o = ibugAugmentOptions(224);
  assert.equal(o.rotationDeg, 10);
  assert.ok(Math.abs(o.shiftX! - 11.2) < 1e-9 && Math.abs(o.shiftY! - 11.2) < 1e-9);
  assert.equal(o.scale, 0.1);
  assert.equal(o.flipProb, 0.5);
  assert.equal(o.flipPermutation, IBUG68_FLIP_PERMUTATION);
});

Deno.test("ibug augment: bright dots follow their transformed landmarks", () => {
  const rng = new Rng(21);
  let flips = 0;
  for (let t = 0; t < 30; t++) {
    const out = augmentIbug(dots(), PTS, rng, { brightness: 0, contrast: 0 });
    flips += out.flipped ? 1 : 0;
    for (let i = 0; i < PTS.length; i += 2) {
      const [x, y] = [out.points[i], out.points[i + 1]];
      const [bx, by] = brightestNear(out.image, x, y, 3);
      assert.ok(
        Math.hypot(bx - x, by - y) <= 1.5,
        `trial ${t} point ${i / 2}: (${bx},${by}) vs (${x},${y})`,
      );
    }
  }
  assert.ok(flips > 3 && flips < 27, `flips ${flips}/30`);
});

Deno.test("ibug augment: a pure flip mirrors x and permutes with the 68-point map", () => {
  const out = augmentIbug(dots(), PTS, new Rng(1), {
    rotationDeg: 0,
    shiftX: 0,
    shiftY: 0,
    scale: 0,
    brightness: 0,
    contrast: 0,
    flipProb: 1,
  });
  assert.ok(out.flipped);
  const want = flipPoints(PTS, S, IBUG68_FLIP_PERMUTATION);
  for (let i = 0; i < 136; i++) assert.ok(Math.abs(out.points[i] - want[i]) < 1e-4);
  // Left outer eye corner (36) becomes the mirror of the right one (45).
  assert.ok(Math.abs(out.points[72] - (S - PTS[90])) < 1e-4);
});

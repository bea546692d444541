import assert from "node:assert/strict";
import { augment, type AugmentOptions } from "../data/augment.ts";
import { Rng } from "../data/rng.ts";
import { brightestNear, dotImage } from "./image_fixtures.ts";

const W = 120, H = 100;
// Eight well-separated landmarks at pixel centres, with a left/right pairing for flips.
const PTS = new Float32Array([
  ...[30.5, 30.5, 89.5, 30.5], // 0 ↔ 1
  ...[40.5, 50.5, 79.5, 50.5], // 2 ↔ 3
  ...[35.5, 72.5, 84.5, 72.5], // 4 ↔ 5
  ...[60.5, 40.5, 60.5, 80.5], // 6, 7 on the axis
]);
const PERM = [1, 0, 3, 2, 5, 4, 6, 7];

const dots = () => dotImage(W, H, PTS);

const OFF: AugmentOptions = {
  rotationDeg: 0,
  shiftX: 0,
  shiftY: 0,
  scale: 0,
  brightness: 0,
  contrast: 0,
  flipProb: 0,
};

Deno.test("augment: same seed gives the same output", () => {
  const opts = { flipPermutation: PERM };
  const a = augment(dots(), PTS, new Rng(3), opts);
  const b = augment(dots(), PTS, new Rng(3), opts);
  assert.deepEqual(a.image.data, b.image.data);
  assert.deepEqual(a.points, b.points);
  assert.deepEqual(a.matrix, b.matrix);
  const c = augment(dots(), PTS, new Rng(4), opts);
  assert.notDeepEqual(a.points, c.points);
});

Deno.test("augment: bright dots move with their transformed keypoints", () => {
  const rng = new Rng(11);
  let flips = 0;
  for (let t = 0; t < 40; t++) {
    const out = augment(dots(), PTS, rng, { flipPermutation: PERM });
    flips += out.flipped ? 1 : 0;
    for (let i = 0; i < PTS.length; i += 2) {
      const [x, y] = [out.points[i], out.points[i + 1]];
      const [bx, by] = brightestNear(out.image, x, y, 4);
      const d = Math.hypot(bx - x, by - y);
      assert.ok(d <= 1.5, `trial ${t} point ${i / 2}: dot at (${bx},${by}), point (${x},${y})`);
    }
  }
  assert.ok(flips > 5 && flips < 35, `flips ${flips}/40`);
});

Deno.test("augment: a flip mirrors the image and permutes the points", () => {
  const img = { width: W, height: H, data: new Float32Array(W * H).map((_, i) => (i % 17) / 17) };
  const out = augment(img, PTS, new Rng(1), { ...OFF, flipProb: 1, flipPermutation: PERM });
  assert.ok(out.flipped);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      assert.ok(Math.abs(out.image.data[y * W + x] - img.data[y * W + W - 1 - x]) < 1e-6);
    }
  }
  for (let i = 0; i < PERM.length; i++) {
    // Output landmark i is the mirror of input landmark PERM[i] (left stays left).
    assert.ok(Math.abs(out.points[2 * i] - (W - PTS[2 * PERM[i]])) < 1e-4);
    assert.ok(Math.abs(out.points[2 * i + 1] - PTS[2 * PERM[i] + 1]) < 1e-4);
  }
});

Deno.test("augment: no flip or rotation when disabled; all-off is the identity", () => {
  const rng = new Rng(2);
  for (let t = 0; t < 30; t++) {
    const out = augment(dots(), PTS, rng, { rotationDeg: 0, flipProb: 0, scale: 0 });
    assert.ok(!out.flipped);
    const [a, b, , d, e] = out.matrix;
    assert.ok(Math.abs(a - 1) < 1e-12 && b === 0 && d === 0 && Math.abs(e - 1) < 1e-12);
  }
  const img = dots();
  const out = augment(img, PTS, rng, OFF);
  assert.deepEqual(out.image.data, img.data);
  assert.deepEqual(out.points, PTS);
});

Deno.test("augment: photometric jitter stays in [0, 1]; flips need a permutation", () => {
  const img = { width: W, height: H, data: new Float32Array(W * H).map((_, i) => (i % 7) / 6) };
  const rng = new Rng(8);
  for (let t = 0; t < 10; t++) {
    const out = augment(img, PTS, rng, { ...OFF, brightness: 0.5, contrast: 0.9 });
    for (const v of out.image.data) assert.ok(v >= 0 && v <= 1);
  }
  assert.throws(() => augment(img, PTS, rng), /flipPermutation/);
  assert.throws(() => augment(img, PTS, rng, { flipPermutation: [0, 1] }), /flipPermutation/);
});

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type Affine,
  applyToPoints,
  flipHorizontal,
  identity,
  invert,
  multiply,
  rotate,
  scale,
  translate,
} from "../data/affine.ts";
import {
  flipPoints,
  IBUG68_FLIP_PERMUTATION,
  IMM_FLIP_PERMUTATION,
  meanShape,
  permutePoints,
} from "../data/keypoints.ts";
import { parseAsf } from "../data/asf.ts";
import { Rng } from "../data/rng.ts";

const IMM_DIR = new URL("../../shared/data/imm_face_db", import.meta.url).pathname;
const hasImm = await Deno.stat(IMM_DIR).then(() => true, () => false);

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number) {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol, `[${i}] ${a[i]} vs ${b[i]}`);
  }
}

function randomPoints(rng: Rng, n: number, w: number, h: number): Float32Array {
  return Float32Array.from({ length: 2 * n }, (_, i) => rng.uniform(0, i % 2 ? h : w));
}

Deno.test("affine: basic transforms and composition order", () => {
  const p = new Float32Array([1, 0]);
  // multiply(A, B) applies B first: scale 2 then shift 1 → 3.
  assertClose(applyToPoints(multiply(translate(1, 0), scale(2)), p), [3, 0], 1e-6);
  assertClose(applyToPoints(multiply(scale(2), translate(1, 0)), p), [4, 0], 1e-6);
  // Rotation by +90° about (5, 5): (6, 5) → (5, 6) (clockwise on screen, y down).
  assertClose(applyToPoints(rotate(Math.PI / 2, 5, 5), new Float32Array([6, 5])), [5, 6], 1e-6);
  assertClose(applyToPoints(scale(2, 3, 10, 10), new Float32Array([11, 11])), [12, 13], 1e-6);
  // Pixel 0's centre (0.5) lands on pixel W−1's centre.
  assertClose(applyToPoints(flipHorizontal(8), new Float32Array([0.5, 2])), [7.5, 2], 1e-6);
  assert.deepEqual(multiply(identity(), rotate(0.3)), rotate(0.3));
  assert.throws(() => invert([1, 2, 0, 2, 4, 0]), /singular/);
});

Deno.test("affine: transform then inverse returns the points", () => {
  const rng = new Rng(5);
  for (let t = 0; t < 20; t++) {
    const pts = randomPoints(rng, 58, 640, 480);
    let m: Affine = identity();
    m = multiply(rotate(rng.uniform(-1, 1), 320, 240), m);
    m = multiply(scale(rng.uniform(0.5, 2), rng.uniform(0.5, 2), 100, 50), m);
    m = multiply(translate(rng.uniform(-50, 50), rng.uniform(-50, 50)), m);
    if (rng.next() < 0.5) m = multiply(flipHorizontal(640), m);
    assertClose(applyToPoints(invert(m), applyToPoints(m, pts)), pts, 1e-4);
    assertClose(multiply(m, invert(m)), identity(), 1e-9);
  }
});

Deno.test("keypoints: both flip permutations are involutive permutations", () => {
  for (const [perm, n] of [[IMM_FLIP_PERMUTATION, 58], [IBUG68_FLIP_PERMUTATION, 68]] as const) {
    assert.equal(perm.length, n);
    assert.deepEqual([...perm].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
    perm.forEach((j, i) => assert.equal(perm[j], i, `perm[perm[${i}]]`));
  }
  assert.deepEqual([6, 41, 45, 52].map((i) => IMM_FLIP_PERMUTATION[i]), [6, 41, 45, 52]);
  assert.equal(IMM_FLIP_PERMUTATION[0], 12);
  assert.equal(IMM_FLIP_PERMUTATION[47], 57);
  assert.equal(IBUG68_FLIP_PERMUTATION[36], 45);
  assert.equal(IBUG68_FLIP_PERMUTATION[65], 67);
  assert.deepEqual(
    [8, 27, 28, 29, 30, 33, 51, 57, 62, 66].map((i) => IBUG68_FLIP_PERMUTATION[i]),
    [8, 27, 28, 29, 30, 33, 51, 57, 62, 66],
  );
});

Deno.test("keypoints: flip twice is the identity; permute gathers", () => {
  const rng = new Rng(9);
  const pts = randomPoints(rng, 58, 640, 480);
  const once = flipPoints(pts, 640, IMM_FLIP_PERMUTATION);
  assertClose(flipPoints(once, 640, IMM_FLIP_PERMUTATION), pts, 1e-4);
  // Flipped point 12 is the mirror of original point 0.
  assertClose([once[24], once[25]], [640 - pts[0], pts[1]], 1e-4);
  assertClose(
    permutePoints(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 0, 1]),
    [5, 6, 1, 2, 3, 4],
    0,
  );
  assert.throws(() => permutePoints(new Float32Array(4), [0, 1, 2]));
  assertClose(meanShape([new Float32Array([0, 2]), new Float32Array([2, 6])]), [1, 4], 0);
});

/** Worst point distance between `m` and its mirror image after the best-fitting mirror axis. */
function mirrorResidual(m: Float32Array, perm: readonly number[]): number {
  // Mirror about x = 0 and permute, then find the best rigid fit (2-D Procrustes) onto `m`:
  // reflection + rotation + translation = reflection about the best tilted axis.
  const f = flipPoints(m, 0, perm);
  const n = m.length / 2;
  let fx = 0, fy = 0, mx = 0, my = 0;
  for (let i = 0; i < m.length; i += 2) {
    fx += f[i] / n, fy += f[i + 1] / n, mx += m[i] / n, my += m[i + 1] / n;
  }
  let a = 0, b = 0;
  for (let i = 0; i < m.length; i += 2) {
    const px = f[i] - fx, py = f[i + 1] - fy, qx = m[i] - mx, qy = m[i + 1] - my;
    a += px * qx + py * qy;
    b += px * qy - py * qx;
  }
  const th = Math.atan2(b, a);
  const fit = applyToPoints(
    multiply(translate(mx, my), rotate(th)),
    applyToPoints(translate(-fx, -fy), f),
  );
  let worst = 0;
  for (let i = 0; i < m.length; i += 2) {
    worst = Math.max(worst, Math.hypot(fit[i] - m[i], fit[i + 1] - m[i + 1]));
  }
  return worst;
}

Deno.test({
  name: "keypoints: mirrored mean IMM shape maps onto itself within 4 px (640×480)",
  ignore: !hasImm,
  fn: async () => {
    const shapes: Float32Array[] = [];
    for await (const e of Deno.readDir(IMM_DIR)) {
      if (!e.name.endsWith(".asf")) continue;
      const rel = parseAsf(await Deno.readTextFile(join(IMM_DIR, e.name)), e.name, 58).points;
      shapes.push(rel.map((v, i) => v * (i % 2 ? 480 : 640)));
    }
    assert.equal(shapes.length, 240);
    const mean = meanShape(shapes);
    const err = mirrorResidual(mean, IMM_FLIP_PERMUTATION);
    assert.ok(err < 4, `worst residual ${err} px`);
    // The check has teeth: flipping without permuting indices is far off.
    const identityPerm = Array.from({ length: 58 }, (_, i) => i);
    assert.ok(mirrorResidual(mean, identityPerm) > 20);
  },
});

/**
 * Random geometric + photometric augmentation that keeps image and landmarks consistent.
 *
 * All geometric changes are folded into ONE forward affine matrix M (source pixels → output
 * pixels). Points get exactly M; the image is resampled with M⁻¹ via `warpAffine`. This rules out
 * the classic bug of images and keypoints drifting apart under augmentation.
 *
 * @module
 */

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
} from "./affine.ts";
import { type GrayImage, warpAffine } from "./image.ts";
import { permutePoints } from "./keypoints.ts";
import type { Rng } from "./rng.ts";

/** Augmentation ranges; every value is the half-width of a uniform range. Zero disables it. */
export interface AugmentOptions {
  /** Max rotation in degrees about the image centre (default 15 → uniform ±15°). */
  rotationDeg?: number;
  /** Max shift in pixels along x (default 10). */
  shiftX?: number;
  /** Max shift in pixels along y (default 10). */
  shiftY?: number;
  /** Max relative scale change (default 0.1 → factor uniform in [0.9, 1.1]). */
  scale?: number;
  /** Max additive brightness change, in 0..1 units (default 0.1). */
  brightness?: number;
  /** Max relative contrast change about mid-gray 0.5 (default 0.2 → ×[0.8, 1.2]). */
  contrast?: number;
  /** Probability of a horizontal flip (default 0.5). Needs `flipPermutation` when > 0. */
  flipProb?: number;
  /** Landmark permutation applied on flip, e.g. `IMM_FLIP_PERMUTATION`. */
  flipPermutation?: ArrayLike<number>;
}

/** Result of {@link augment}. */
export interface Augmented {
  /** The augmented image, same size as the input. */
  image: GrayImage;
  /** Transformed (and, when flipped, permuted) points in output pixel coordinates. */
  points: Float32Array;
  /** The forward matrix used (input pixel coords → output pixel coords). */
  matrix: Affine;
  /** Whether a horizontal flip was applied (points were then permuted). */
  flipped: boolean;
}

/**
 * Augments `img` and its landmarks `pts` (pixel coordinates in `img`, interleaved x, y) with
 * random rotation, shift, scale, flip, brightness and contrast drawn from `rng`. Deterministic for
 * a given rng state: the same number of random draws is made whatever the options.
 */
export function augment(
  img: GrayImage,
  pts: Float32Array,
  rng: Rng,
  opts: AugmentOptions = {},
): Augmented {
  const rotationDeg = opts.rotationDeg ?? 15;
  const shiftX = opts.shiftX ?? 10;
  const shiftY = opts.shiftY ?? 10;
  const scaleR = opts.scale ?? 0.1;
  const brightness = opts.brightness ?? 0.1;
  const contrast = opts.contrast ?? 0.2;
  const flipProb = opts.flipProb ?? 0.5;
  const perm = opts.flipPermutation;
  if (flipProb > 0 && !perm) {
    throw new Error(
      "augment: flipProb > 0 needs opts.flipPermutation (e.g. IMM_FLIP_PERMUTATION); " +
        "set flipProb: 0 to disable flips",
    );
  }
  if (perm && perm.length * 2 !== pts.length) {
    throw new Error(`augment: ${pts.length / 2} points but flipPermutation has ${perm.length}`);
  }

  // Fixed draw order so a given seed always yields the same augmentation.
  const angle = rng.uniform(-rotationDeg, rotationDeg) * Math.PI / 180;
  const dx = rng.uniform(-shiftX, shiftX);
  const dy = rng.uniform(-shiftY, shiftY);
  const s = 1 + rng.uniform(-scaleR, scaleR);
  const flipped = rng.next() < flipProb;
  const bright = rng.uniform(-brightness, brightness);
  const contr = 1 + rng.uniform(-contrast, contrast);

  const { width: W, height: H } = img;
  const cx = W / 2, cy = H / 2;
  // M = shift · rotate(about centre) · scale(about centre) · flip
  let m: Affine = flipped ? flipHorizontal(W) : identity();
  m = multiply(scale(s, s, cx, cy), m);
  m = multiply(rotate(angle, cx, cy), m);
  m = multiply(translate(dx, dy), m);

  // Photometric jitter on the source, so the zero padding added by the warp stays black.
  let src = img;
  if (bright !== 0 || contr !== 1) {
    const d = new Float32Array(img.data.length);
    for (let i = 0; i < d.length; i++) {
      const v = (img.data[i] - 0.5) * contr + 0.5 + bright;
      d[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    src = { width: W, height: H, data: d };
  }
  const image = warpAffine(src, invert(m), W, H);
  let points = applyToPoints(m, pts);
  if (flipped) points = permutePoints(points, perm!);
  return { image, points, matrix: m, flipped };
}

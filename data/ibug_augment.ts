/**
 * Training augmentation for cached iBUG face crops: a thin wrapper around {@link augment} with the
 * ranges used for 68-point training (scale 0.9–1.1, shift ±5 % of the crop size, rotation ±10°,
 * brightness ±0.1, contrast ×0.8–1.2, horizontal flip with {@link IBUG68_FLIP_PERMUTATION}). The
 * points get exactly the image's forward matrix (and the flip permutation), in continuous crop
 * pixels.
 *
 * @module
 */

import { augment, type Augmented, type AugmentOptions } from "./augment.ts";
import type { GrayImage } from "./image.ts";
import { IBUG68_FLIP_PERMUTATION } from "./keypoints.ts";
import type { Rng } from "./rng.ts";

/** The augmentation options for a `size`×`size` crop (shift = 5 % of the size). */
export function ibugAugmentOptions(size: number): AugmentOptions {
  return {
    rotationDeg: 10,
    shiftX: 0.05 * size,
    shiftY: 0.05 * size,
    scale: 0.1,
    brightness: 0.1,
    contrast: 0.2,
    flipProb: 0.5,
    flipPermutation: IBUG68_FLIP_PERMUTATION,
  };
}

/**
 * Augments one crop and its 68 points (continuous crop pixels, e.g. `IbugFace.points`) with the
 * iBUG ranges; `overrides` replace individual options (e.g. `{ flipProb: 0 }`).
 */
export function augmentIbug(
  image: GrayImage,
  points: Float32Array,
  rng: Rng,
  overrides: AugmentOptions = {},
): Augmented {
  if (image.width !== image.height) {
    throw new Error(`augmentIbug: crop must be square, got ${image.width}×${image.height}`);
  }
  return augment(image, points, rng, { ...ibugAugmentOptions(image.width), ...overrides });
}

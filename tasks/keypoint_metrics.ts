/**
 * Keypoint accuracy: MSE of relative coordinates and mean Euclidean error in pixels.
 * @module
 */

/** Errors of N predictions of K points each. */
export interface KeypointErrors {
  /** Mean squared error over all coordinates (relative units, as the training loss). */
  mse: number;
  /** Mean point-to-point distance in pixels of a width×height image. */
  meanPx: number;
  /** Per-sample mean point distance in pixels. */
  perSamplePx: number[];
}

/**
 * `pred` and `truth` hold `samples`×K interleaved (x, y) relative coordinates; distances are measured
 * after scaling x by `width` and y by `height`.
 */
export function keypointErrors(
  pred: Float32Array,
  truth: Float32Array,
  samples: number,
  width: number,
  height: number,
): KeypointErrors {
  if (pred.length !== truth.length) {
    throw new Error(`keypointErrors: ${pred.length} predicted vs ${truth.length} true values`);
  }
  let se = 0;
  for (let i = 0; i < pred.length; i++) se += (pred[i] - truth[i]) ** 2;
  const n = samples;
  const perSample = pred.length / n;
  const perSamplePx: number[] = [];
  let total = 0;
  for (let s = 0; s < n; s++) {
    let d = 0;
    for (let k = 0; k < perSample; k += 2) {
      const i = s * perSample + k;
      d += Math.hypot((pred[i] - truth[i]) * width, (pred[i + 1] - truth[i + 1]) * height);
    }
    perSamplePx.push(d / (perSample / 2));
    total += d;
  }
  return { mse: se / pred.length, meanPx: total / (pred.length / 2), perSamplePx };
}

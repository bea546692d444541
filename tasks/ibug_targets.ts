/**
 * Target standardisation for 68-point regression: the network learns z = (y − μ) / σ, where y are
 * the crop coordinates divided by the crop side, μ the mean training shape (136 values) and σ one
 * scale for all coordinates (their standard deviation about μ; one σ keeps x and y errors weighted
 * alike, as NME weighs them). Adam moves every weight by about the learning rate whatever the
 * loss's scale, so in raw units (σ = 0.062 of the crop on the 300-W subset) its early steps move
 * the outputs by many σ; in z units the same steps are small, and the outputs start near the mean
 * shape.
 *
 * The saved model folds the transform into its last linear layer (W′ = σW, b′ = σb + μ), so it
 * outputs raw crop coordinates like any other facekit model and loads into PyTorch unchanged.
 * @module
 */

import type { Linear } from "../nn/layers.ts";

/** μ (per output) and σ (one scale) of the standardisation. */
export interface TargetScaling {
  mean: number[];
  std: number;
}

/** μ and σ of `targets` (each a vector of `outputs` raw values). */
export function fitTargetScaling(targets: ArrayLike<number>[], outputs: number): TargetScaling {
  if (targets.length === 0) throw new Error("fitTargetScaling: no targets");
  const mean = new Array<number>(outputs).fill(0);
  for (const t of targets) for (let k = 0; k < outputs; k++) mean[k] += t[k] / targets.length;
  let sq = 0;
  for (const t of targets) for (let k = 0; k < outputs; k++) sq += (t[k] - mean[k]) ** 2;
  const std = Math.sqrt(sq / (targets.length * outputs));
  if (!Number.isFinite(std)) throw new Error("fitTargetScaling: targets are not finite numbers");
  // All targets equal (a degenerate set): nothing to scale, keep raw units.
  return { mean, std: std > 1e-9 ? std : 1 };
}

/** The identity scaling (μ = 0, σ = 1): raw targets. */
export function identityScaling(outputs: number): TargetScaling {
  return { mean: new Array<number>(outputs).fill(0), std: 1 };
}

/** Raw → standardised, in place. `y` holds whole rows of `mean.length` values. */
export function standardize(s: TargetScaling, y: Float32Array): void {
  const n = s.mean.length;
  for (let i = 0; i < y.length; i++) y[i] = (y[i] - s.mean[i % n]) / s.std;
}

/** Standardised → raw, as a new array. */
export function unstandardize(s: TargetScaling, z: ArrayLike<number>): Float32Array {
  const n = s.mean.length;
  return Float32Array.from(z, (v, i) => s.mean[i % n] + s.std * v);
}

/**
 * Runs `fn` while `fc` holds the folded weights (σW, σb + μ), then restores its own weights
 * exactly (the f32 values read before), so training and checkpoints are unaffected.
 */
export async function withFoldedHead<T>(
  fc: Linear,
  s: TargetScaling,
  fn: () => Promise<T>,
): Promise<T> {
  if (!fc.bias) throw new Error("withFoldedHead: the layer has no bias to fold μ into");
  const w = await fc.weight.read();
  const b = await fc.bias.read();
  const n = s.mean.length;
  if (b.length !== n) throw new Error(`withFoldedHead: ${b.length} outputs, scaling has ${n}`);
  fc.weight.write(w.map((v) => s.std * v));
  fc.bias.write(b.map((v, k) => s.std * v + s.mean[k]));
  try {
    return await fn();
  } finally {
    fc.weight.write(w);
    fc.bias.write(b);
  }
}

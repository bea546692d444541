/**
 * Batches of iBUG face crops for the ResNet: inputs [B, 1, S, S] (pixels − 0.5) and targets
 * [B, 136] (crop coordinates / S), and batched inference with one readback per batch.
 * @module
 */

import type { Module } from "../nn/module.ts";
import { keep, noGrad, Tensor, tidy } from "../nn/tensor.ts";
import type { IbugFace } from "../data/ibug.ts";
import { augmentIbug } from "../data/ibug_augment.ts";
import type { Rng } from "../data/rng.ts";

/**
 * Fills `x` and (when the faces have landmarks) `y` for the faces `idx`, augmenting face `i`
 * with `augmentFor(i)` when given.
 */
export function fillBatch(
  faces: IbugFace[],
  idx: number[],
  size: number,
  x: Float32Array,
  y: Float32Array | null,
  augmentFor: ((i: number) => Rng) | null,
): void {
  const plane = size * size;
  idx.forEach((fi, j) => {
    const f = faces[fi];
    let image = f.image;
    let pts = f.points;
    if (augmentFor) {
      if (!pts) throw new Error(`${f.file}: augmentation needs landmarks`);
      const a = augmentIbug(image, pts, augmentFor(fi));
      image = a.image;
      pts = a.points;
    }
    const d = image.data;
    for (let i = 0; i < plane; i++) x[j * plane + i] = d[i] - 0.5;
    if (y && pts) { for (let k = 0; k < 136; k++) y[j * 136 + k] = pts[k] / size; }
  });
}

/**
 * Runs `model` (eval mode, no graph) over all faces in batches; returns per face its 136
 * outputs (crop coordinates / size). Restores the previous train/eval mode.
 */
export async function predictFaces(
  model: Module,
  faces: IbugFace[],
  size: number,
  batch: number,
): Promise<Float32Array[]> {
  const wasTraining = model.training;
  model.eval();
  const preds: Float32Array[] = [];
  const x = new Float32Array(batch * size * size);
  try {
    for (let b = 0; b < faces.length; b += batch) {
      const idx = faces.slice(b, b + batch).map((_, j) => b + j);
      fillBatch(faces, idx, size, x, null, null);
      const out = noGrad(() =>
        tidy(() => {
          const xt = Tensor.from(x.subarray(0, idx.length * size * size), [
            idx.length,
            1,
            size,
            size,
          ]);
          return keep(model.forward(xt));
        })
      );
      const v = await out.read();
      out.dispose();
      idx.forEach((_, j) => preds.push(v.slice(j * 136, (j + 1) * 136)));
    }
  } finally {
    model.train(wasTraining);
  }
  return preds;
}

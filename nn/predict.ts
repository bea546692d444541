/**
 * Keypoint inference on whole images in original-image pixels, for the two model families:
 *
 * - {@link KeypointCnn} (NoseNet, FaceNet): the whole image is the input. It is area-resized to
 *   the model's width×height, pixels − 0.5; the relative outputs (x, y) become (x·W, y·H) in the
 *   CONTINUOUS pixel convention of `data/image.ts` (pixel i covers [i, i+1), so (0, 0) is the
 *   image's top-left corner).
 * - {@link ResNet18} (300-W): each image needs a face box. The face is cropped with
 *   {@link cropFace} (square, 1.4 × the box's longer side) and the crop's outputs are mapped back
 *   with {@link pointsToOriginal}, which returns ANNOTATION coordinates (0-based pixel indices,
 *   pixel i's centre at i), the convention of dlib XML, `.pts` files and Kaggle CSVs.
 *
 * @module
 */

import { keep, noGrad, Tensor, tidy } from "./tensor.ts";
import { KeypointCnn } from "./models/keypoint_cnn.ts";
import { ResNet18 } from "./models/resnet18.ts";
import { type GrayImage, resizeImage } from "../data/image.ts";
import { type CropBox, cropFace, pointsToOriginal } from "../data/face_crop.ts";
import type { Affine } from "../data/affine.ts";

/** Options of {@link predictKeypoints}. */
export interface PredictKeypointsOptions {
  /** ResNet18 only (required there): the face box of each image, same length as the images. */
  boxes?: readonly CropBox[];
  /** Images per forward pass (default 16). */
  batch?: number;
}

/**
 * Predicts keypoints for `images` (gray, values 0..1, any size) and returns per image the
 * points interleaved `[x0, y0, x1, y1, …]` in original-image pixels: continuous coordinates for a
 * {@link KeypointCnn}, annotation coordinates (pixel centre at integers) for a {@link ResNet18}
 * (see the module doc). Runs in evaluation mode without an autograd graph, `batch` images per
 * forward pass, one readback per batch; restores the model's previous train/eval mode.
 */
export async function predictKeypoints(
  model: KeypointCnn | ResNet18,
  images: readonly GrayImage[],
  opts: PredictKeypointsOptions = {},
): Promise<Float32Array[]> {
  const batch = opts.batch ?? 16;
  if (!Number.isInteger(batch) || batch < 1) {
    throw new Error(`predictKeypoints: batch must be a positive integer, got ${batch}`);
  }
  let inW: number, inH: number, outputs: number;
  if (model instanceof KeypointCnn) {
    inW = model.config.inputWidth;
    inH = model.config.inputHeight;
    outputs = model.config.outputs;
  } else if (model instanceof ResNet18) {
    if (model.config.inChannels !== 1) {
      throw new Error(`predictKeypoints: the ResNet-18 must take 1 gray channel`);
    }
    if (!opts.boxes || opts.boxes.length !== images.length) {
      throw new Error(
        `predictKeypoints: a ResNet-18 needs one face box per image ` +
          `(${images.length} images, ${opts.boxes?.length ?? 0} boxes)`,
      );
    }
    inW = inH = model.config.inputSize;
    outputs = model.config.outputs;
  } else {
    throw new Error("predictKeypoints: the model must be a KeypointCnn or a ResNet18");
  }
  const plane = inW * inH;
  const wasTraining = model.training;
  model.eval();
  const out: Float32Array[] = [];
  try {
    for (let b = 0; b < images.length; b += batch) {
      const n = Math.min(batch, images.length - b);
      const x = new Float32Array(n * plane);
      const crops: Affine[] = [];
      for (let j = 0; j < n; j++) {
        const img = images[b + j];
        let input: GrayImage;
        if (model instanceof ResNet18) {
          const crop = cropFace(img, opts.boxes![b + j], inW);
          crops.push(crop.matrix);
          input = crop.image;
        } else {
          input = resizeImage(img, inW, inH);
        }
        const d = input.data;
        for (let i = 0, o = j * plane; i < plane; i++, o++) x[o] = d[i] - 0.5;
      }
      const y = noGrad(() => tidy(() => keep(model.forward(Tensor.from(x, [n, 1, inH, inW])))));
      let v: Float32Array;
      try {
        v = await y.read();
      } finally {
        y.dispose();
      }
      for (let j = 0; j < n; j++) {
        const rel = v.slice(j * outputs, (j + 1) * outputs);
        if (model instanceof ResNet18) {
          out.push(pointsToOriginal(crops[j], rel.map((t) => t * inW)));
        } else {
          const { width: W, height: H } = images[b + j];
          out.push(rel.map((t, k) => (k % 2 === 0 ? t * W : t * H)));
        }
      }
    }
  } finally {
    model.train(wasTraining);
  }
  return out;
}

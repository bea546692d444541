/**
 * Landmark accuracy metrics for 68-point faces, and the mean-shape baseline.
 *
 * NME (normalised mean error, as in the 300-W literature): mean over the 68 points of the
 * Euclidean error, divided by the inter-ocular distance of the TRUTH (outer eye corners, points
 * 36 and 45, 0-based), in percent.
 *
 * @module
 */

import type { CropBox } from "./face_crop.ts";

/** Outer eye corners (0-based) used to normalise the NME. */
export const IOD_POINTS: readonly [number, number] = [36, 45];

function checkPair(pred: Float32Array, truth: Float32Array, what: string): void {
  if (pred.length !== truth.length || pred.length % 2 !== 0) {
    throw new Error(`${what}: prediction has ${pred.length} values, truth ${truth.length}`);
  }
}

/** NME of one face in percent: mean point error / |truth[36] − truth[45]| × 100. */
export function nme(pred: Float32Array, truth: Float32Array): number {
  checkPair(pred, truth, "nme");
  const [a, b] = IOD_POINTS;
  if (truth.length < 2 * (Math.max(a, b) + 1)) {
    throw new Error(`nme: need at least ${Math.max(a, b) + 1} points, got ${truth.length / 2}`);
  }
  const iod = Math.hypot(truth[2 * a] - truth[2 * b], truth[2 * a + 1] - truth[2 * b + 1]);
  if (!(iod > 0)) throw new Error(`nme: inter-ocular distance is ${iod}`);
  let sum = 0;
  const n = truth.length / 2;
  for (let k = 0; k < n; k++) {
    sum += Math.hypot(pred[2 * k] - truth[2 * k], pred[2 * k + 1] - truth[2 * k + 1]);
  }
  return (sum / n / iod) * 100;
}

/** Mean of the per-face {@link nme} values, in percent. */
export function meanNme(preds: readonly Float32Array[], truths: readonly Float32Array[]): number {
  if (preds.length !== truths.length || preds.length === 0) {
    throw new Error(`meanNme: ${preds.length} predictions for ${truths.length} faces`);
  }
  let s = 0;
  for (let i = 0; i < preds.length; i++) s += nme(preds[i], truths[i]);
  return s / preds.length;
}

/**
 * Mean absolute coordinate error in pixels over every x and y of every face (the per-value error
 * a Kaggle `Id,Predicted` scorer would compute). Accepts one face or lists of faces.
 */
export function meanAbsCoordError(
  preds: Float32Array | readonly Float32Array[],
  truths: Float32Array | readonly Float32Array[],
): number {
  const p = preds instanceof Float32Array ? [preds] : preds;
  const t = truths instanceof Float32Array ? [truths] : truths;
  if (p.length !== t.length || p.length === 0) {
    throw new Error(`meanAbsCoordError: ${p.length} predictions for ${t.length} faces`);
  }
  let s = 0, n = 0;
  for (let i = 0; i < p.length; i++) {
    checkPair(p[i], t[i], `meanAbsCoordError (face ${i})`);
    for (let j = 0; j < p[i].length; j++) s += Math.abs(p[i][j] - t[i][j]);
    n += p[i].length;
  }
  return s / n;
}

/** A face with a box and landmarks in original pixels (a `DlibFace` or an `IbugFace` fits). */
export interface BoxedShape {
  /** The face box; its `parts` are used when the face has no `parts` of its own. */
  box: CropBox & { parts?: Float32Array | null };
  /** Landmarks in original pixels. */
  parts?: Float32Array | null;
}

/**
 * Mean shape in box-normalised coordinates ((x − left)/width, (y − top)/height) over the faces
 * that have landmarks. Throws when none has.
 */
export function meanBoxShape(faces: readonly BoxedShape[]): Float32Array {
  let acc: Float64Array | null = null;
  let count = 0;
  for (const f of faces) {
    const p = f.parts ?? f.box.parts;
    if (!p) continue;
    acc ??= new Float64Array(p.length);
    if (p.length !== acc.length) {
      throw new Error(`meanBoxShape: ${p.length / 2} points, expected ${acc.length / 2}`);
    }
    const { left, top, width, height } = f.box;
    for (let k = 0; k < p.length; k += 2) {
      acc[k] += (p[k] - left) / width;
      acc[k + 1] += (p[k + 1] - top) / height;
    }
    count++;
  }
  if (!acc) throw new Error("meanBoxShape: no face with landmarks");
  return Float32Array.from(acc, (v) => v / count);
}

/** Places a box-normalised shape into `box`: x = left + u·width, y = top + v·height. */
export function placeShape(shape: Float32Array, box: CropBox): Float32Array {
  const out = new Float32Array(shape.length);
  for (let k = 0; k < shape.length; k += 2) {
    out[k] = box.left + shape[k] * box.width;
    out[k + 1] = box.top + shape[k + 1] * box.height;
  }
  return out;
}

/**
 * The mean-shape baseline: the training faces' mean box-normalised shape placed into each test
 * box. Returns one prediction per test box, in original pixels (the XML convention).
 */
export function meanShapeBaseline(
  trainFaces: readonly BoxedShape[],
  testBoxes: readonly (CropBox | { box: CropBox })[],
): Float32Array[] {
  const shape = meanBoxShape(trainFaces);
  return testBoxes.map((b) => placeShape(shape, "box" in b ? b.box : b));
}

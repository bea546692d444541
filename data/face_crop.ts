/**
 * Square face crops around a box, with exact point mapping in both directions.
 *
 * Two coordinate conventions meet here:
 * - ANNOTATION coordinates (dlib XML parts, `.pts` after {@link parsePts}'s −1, Kaggle CSV
 *   predictions): 0-based pixel indices, the centre of pixel i is at i.
 * - CONTINUOUS coordinates of `image.ts` (crop points, affine matrices, warps, augmentation):
 *   pixel i covers [i, i+1), its centre is at i + 0.5.
 *
 * {@link faceCropMatrix} maps original CONTINUOUS coordinates to crop CONTINUOUS coordinates.
 * {@link pointsToCrop} takes annotation coordinates (adds 0.5 before the matrix) and returns
 * crop coordinates in the continuous convention; {@link pointsToOriginal} is its exact inverse and
 * returns annotation coordinates again. Always go through these two for landmarks, or predictions
 * in original pixels end up shifted by half a pixel.
 *
 * Boxes are dlib boxes: pixel columns `left … left + width − 1`, i.e. the continuous interval
 * [left, left + width); its centre is `left + width / 2`.
 *
 * @module
 */

import { type Affine, applyToPoints, invert, multiply } from "./affine.ts";
import { type GrayImage, resizeImage, warpAffine } from "./image.ts";

/** The box fields the crop needs (a {@link DlibBox} fits). */
export interface CropBox {
  /** Top row. */
  top: number;
  /** Left column. */
  left: number;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** Default crop side relative to the box's longer side. */
export const DEFAULT_CROP_SCALE = 1.4;

/**
 * When the crop side exceeds this many output pixels per output pixel, the source is first
 * area-averaged (exact box filter) so the final bilinear warp does not alias.
 */
export const PREFILTER_RATIO = 1.5;

/**
 * Affine map from ORIGINAL image coordinates to the `size`×`size` crop (both continuous, see the
 * module doc): a square of side `scaleFactor · max(width, height)` centred on the box centre
 * becomes [0, size)². Boxes may extend past the image; nothing is clamped.
 */
export function faceCropMatrix(
  box: CropBox,
  size: number,
  scaleFactor: number = DEFAULT_CROP_SCALE,
): Affine {
  const { top, left, width, height } = box;
  if (!(width > 0 && height > 0) || ![top, left].every(Number.isFinite)) {
    throw new Error(`faceCropMatrix: bad box ${JSON.stringify({ top, left, width, height })}`);
  }
  if (!(size > 0) || !(scaleFactor > 0)) {
    throw new Error(`faceCropMatrix: bad size ${size} or scale factor ${scaleFactor}`);
  }
  const side = scaleFactor * Math.max(width, height);
  const k = size / side;
  const x0 = left + width / 2 - side / 2;
  const y0 = top + height / 2 - side / 2;
  return [k, 0, -x0 * k, 0, k, -y0 * k];
}

/** `left=…, top=…, width=…, height=…`: a box as written in messages. */
export function describeBox(box: CropBox): string {
  return `left=${box.left}, top=${box.top}, width=${box.width}, height=${box.height}`;
}

/** How many times the image's larger side a box may measure (see {@link boxImageProblem}). */
export const MAX_BOX_TO_IMAGE = 8;

/**
 * Why `box` cannot be cropped from a `width`×`height` image, or null when it can: a non-finite
 * coordinate, a non-positive size, no overlap at all with the image (the continuous box
 * [left, left + width) × [top, top + height) must share some area with [0, width) × [0, height)),
 * or a side over {@link MAX_BOX_TO_IMAGE}× the image's larger side. A box that only partly
 * extends past the image is fine (zero padding).
 */
export function boxImageProblem(box: CropBox, width: number, height: number): string | null {
  const { top, left, width: w, height: h } = box;
  if (![top, left, w, h].every(Number.isFinite)) return `box (${describeBox(box)}) is not finite`;
  if (!(w > 0 && h > 0)) return `box (${describeBox(box)}) has a non-positive size ${w}×${h}`;
  if (left >= width || left + w <= 0 || top >= height || top + h <= 0) {
    return `box (${describeBox(box)}) lies entirely outside the ${width}×${height} image`;
  }
  // Far larger than the image, a crop would be a few pixels of image in a sea of zeros (and at
  // extremes its matrix is not invertible): a mistyped box, not a face.
  const side = Math.max(width, height);
  if (Math.max(w, h) > MAX_BOX_TO_IMAGE * side) {
    return `box (${
      describeBox(box)
    }) is over ${MAX_BOX_TO_IMAGE}× the ${width}×${height} image's ` +
      `larger side`;
  }
  return null;
}

/** Result of {@link cropCheckedFaces}. */
export interface CheckedCrops {
  /** Crops packed as by {@link cropFacesToBytes}; a rejected box's crop is all zero. */
  crops: Uint8Array;
  /** Per box: null, or why it was rejected ({@link boxImageProblem}). */
  problems: (string | null)[];
}

/**
 * {@link cropFacesToBytes} for the boxes that pass {@link boxImageProblem} against `img`'s size;
 * the others are not cropped and get their reason in `problems`.
 */
export function cropCheckedFaces(
  img: GrayImage,
  boxes: readonly CropBox[],
  size: number,
  scaleFactor: number = DEFAULT_CROP_SCALE,
): CheckedCrops {
  const problems = boxes.map((b) => boxImageProblem(b, img.width, img.height));
  const crops = cropFacesToBytes(
    img,
    boxes.map((b, k) => (problems[k] === null ? b : null)),
    size,
    scaleFactor,
  );
  return { crops, problems };
}

/** Result of {@link cropFace}. */
export interface FaceCrop {
  /** The `size`×`size` crop, values 0..1, zero outside the source image. */
  image: GrayImage;
  /** Original (continuous) → crop (continuous) matrix, as {@link faceCropMatrix}. */
  matrix: Affine;
}

/**
 * Crops the face in `box` to `size`×`size` with {@link faceCropMatrix}: bilinear sampling, zero
 * padding outside the image. When the crop shrinks the face by more than {@link PREFILTER_RATIO},
 * the covered source region is first area-averaged to about the output scale; the resize's own
 * point map is folded into the warp, so the result stays exactly consistent with `matrix`.
 */
export function cropFace(
  img: GrayImage,
  box: CropBox,
  size: number,
  scaleFactor: number = DEFAULT_CROP_SCALE,
): FaceCrop {
  if (!Number.isInteger(size) || size <= 0) throw new Error(`cropFace: bad size ${size}`);
  const matrix = faceCropMatrix(box, size, scaleFactor);
  const inv = invert(matrix); // crop → original
  const ratio = 1 / matrix[0]; // original pixels per crop pixel
  if (ratio <= PREFILTER_RATIO) {
    return { image: warpAffine(img, inv, size, size), matrix };
  }
  // Source region under the crop, with a margin so bilinear taps near the crop border never read
  // the artificial edge of the region (only the true image edge, which is zero-padded anyway).
  const margin = Math.ceil(2 * ratio) + 2;
  const sx0 = inv[2], sy0 = inv[5], side = size * ratio;
  const x0 = Math.max(0, Math.floor(sx0) - margin);
  const y0 = Math.max(0, Math.floor(sy0) - margin);
  const x1 = Math.min(img.width, Math.ceil(sx0 + side) + margin);
  const y1 = Math.min(img.height, Math.ceil(sy0 + side) + margin);
  if (x1 <= x0 || y1 <= y0) {
    return { image: { width: size, height: size, data: new Float32Array(size * size) }, matrix };
  }
  const w = x1 - x0, h = y1 - y0;
  let region = img;
  if (w !== img.width || h !== img.height) {
    const data = new Float32Array(w * h);
    for (let y = 0; y < h; y++) {
      const s = (y + y0) * img.width + x0;
      data.set(img.data.subarray(s, s + w), y * w);
    }
    region = { width: w, height: h, data };
  }
  const rw = Math.max(1, Math.round(w / ratio)), rh = Math.max(1, Math.round(h / ratio));
  const small = resizeImage(region, rw, rh);
  // original → small: u = (x − x0)·rw/w, v = (y − y0)·rh/h (exact for resizeImage).
  const toSmall: Affine = [rw / w, 0, -x0 * rw / w, 0, rh / h, -y0 * rh / h];
  return { image: warpAffine(small, multiply(toSmall, inv), size, size), matrix };
}

/**
 * Maps landmarks in ANNOTATION coordinates of the original image (0-based, pixel centre at i)
 * to continuous crop coordinates: `m · (p + 0.5)`.
 */
export function pointsToCrop(m: Affine, pts: Float32Array): Float32Array {
  const [a, b, c, d, e, f] = m;
  return applyToPoints([a, b, c + 0.5 * (a + b), d, e, f + 0.5 * (d + e)], pts);
}

/**
 * Inverse of {@link pointsToCrop}: continuous crop coordinates → annotation coordinates of the
 * original image (`m⁻¹ · q − 0.5`), e.g. to write predictions to a Kaggle CSV.
 */
export function pointsToOriginal(m: Affine, pts: Float32Array): Float32Array {
  const [a, b, c, d, e, f] = invert(m);
  return applyToPoints([a, b, c - 0.5, d, e, f - 0.5], pts);
}

/**
 * Crops every box of one image and quantises the crops to bytes (round(v·255), clamped), packed
 * one after another: crop j occupies bytes [j·size², (j+1)·size²); a null box is left all zero.
 * Used by the iBUG loader and its worker so both paths produce identical bytes.
 */
export function cropFacesToBytes(
  img: GrayImage,
  boxes: readonly (CropBox | null)[],
  size: number,
  scaleFactor: number = DEFAULT_CROP_SCALE,
): Uint8Array {
  const n = size * size;
  const out = new Uint8Array(boxes.length * n);
  boxes.forEach((box, j) => {
    if (box === null) return;
    const d = cropFace(img, box, size, scaleFactor).image.data;
    for (let i = 0, o = j * n; i < n; i++, o++) {
      const v = Math.round(d[i] * 255);
      out[o] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  });
  return out;
}

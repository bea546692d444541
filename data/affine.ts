/**
 * 2-D affine transforms as 2×3 matrices.
 *
 * `[a, b, c, d, e, f]` means `x' = a·x + b·y + c`, `y' = d·x + e·y + f`. Coordinates follow the
 * image convention of this package (see `image.ts`): x to the right, y down, pixel i covers
 * [i, i+1). With y down, a positive angle in {@link rotate} turns clockwise on screen.
 *
 * @module
 */

/** A 2×3 affine matrix `[a, b, c, d, e, f]` (x' = a x + b y + c, y' = d x + e y + f). */
export type Affine = [number, number, number, number, number, number];

/** The identity transform. */
export function identity(): Affine {
  return [1, 0, 0, 0, 1, 0];
}

/** Composition `A ∘ B`: apply `B` first, then `A`. */
export function multiply(A: Affine, B: Affine): Affine {
  const [a1, b1, c1, d1, e1, f1] = A;
  const [a2, b2, c2, d2, e2, f2] = B;
  return [
    a1 * a2 + b1 * d2,
    a1 * b2 + b1 * e2,
    a1 * c2 + b1 * f2 + c1,
    d1 * a2 + e1 * d2,
    d1 * b2 + e1 * e2,
    d1 * c2 + e1 * f2 + f1,
  ];
}

/** Inverse transform; throws when the matrix is singular. */
export function invert(m: Affine): Affine {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) {
    throw new Error(`invert: singular affine matrix [${m}]`);
  }
  return [e / det, -b / det, (b * f - e * c) / det, -d / det, a / det, (d * c - a * f) / det];
}

/** Applies `m` to interleaved points `[x0, y0, x1, y1, …]`, returning a new array. */
export function applyToPoints(m: Affine, pts: Float32Array): Float32Array {
  const [a, b, c, d, e, f] = m;
  const out = new Float32Array(pts.length);
  for (let i = 0; i + 1 < pts.length; i += 2) {
    const x = pts[i], y = pts[i + 1];
    out[i] = a * x + b * y + c;
    out[i + 1] = d * x + e * y + f;
  }
  return out;
}

/** Translation by (tx, ty). */
export function translate(tx: number, ty: number): Affine {
  return [1, 0, tx, 0, 1, ty];
}

/** Scaling by (sx, sy) about the point (cx, cy); `sy` defaults to `sx`. */
export function scale(sx: number, sy: number = sx, cx = 0, cy = 0): Affine {
  return [sx, 0, cx - sx * cx, 0, sy, cy - sy * cy];
}

/** Rotation by `rad` radians about (cx, cy); clockwise on screen since y points down. */
export function rotate(rad: number, cx = 0, cy = 0): Affine {
  const co = Math.cos(rad), si = Math.sin(rad);
  return [co, -si, cx - co * cx + si * cy, si, co, cy - si * cx - co * cy];
}

/**
 * Mirror `x → width − x`. With pixel i covering [i, i+1) this maps pixel i exactly onto pixel
 * `width − 1 − i`, so images and points flip consistently.
 */
export function flipHorizontal(width: number): Affine {
  return [-1, 0, width, 0, 1, 0];
}

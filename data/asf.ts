/**
 * Parser for AAM shape files (`.asf`) as used by the IMM face database.
 *
 * Layout: `#` comment lines, then the point count, then one line per point
 * (`path# type x_rel y_rel point# from to`; extra columns allowed, fewer are an error), then the host image name.
 * Coordinates are fractions of the image width/height.
 *
 * @module
 */

import { DECIMAL } from "./decimal.ts";

/**
 * How far a relative coordinate may stray outside [0, 1] before {@link parseAsf} rejects it
 * (rounding slack only: the 240 real IMM files span 0.169…0.966).
 */
export const ASF_COORD_TOLERANCE = 1e-6;

/** Result of {@link parseAsf}. */
export interface AsfShape {
  /** Interleaved `[x0, y0, x1, y1, …]`, relative to image width/height (nominally 0..1). */
  points: Float32Array;
  /** Host image file name from the end of the file, or null when absent. */
  imageName: string | null;
}

/**
 * Parses the text of an `.asf` file. Throws an Error naming `fileName` when the declared count
 * disagrees with the point lines, a coordinate is not a number or lies outside [0, 1] (beyond
 * {@link ASF_COORD_TOLERANCE}), a line is malformed, or the count differs from `expectedPoints`
 * (when given).
 */
export function parseAsf(text: string, fileName: string, expectedPoints?: number): AsfShape {
  const fail = (msg: string): never => {
    throw new Error(`${fileName}: ${msg}`);
  };
  const lines = text.split(/\r\n|\r|\n/);
  let count = -1;
  const coords: number[] = [];
  let imageName: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `line ${i + 1}`;
    if (count < 0) {
      count = Number(line);
      if (!Number.isInteger(count) || count < 0) {
        fail(`${where}: expected the point count, got "${line}"`);
      }
      continue;
    }
    const cols = line.split(/\s+/);
    if (cols.length === 1) {
      // A lone token after the points is the host image name; anything after it is an error.
      if (imageName !== null) fail(`${where}: unexpected text "${line}" after the image name`);
      imageName = line;
      continue;
    }
    if (imageName !== null) fail(`${where}: point line after the image name "${imageName}"`);
    // All seven columns: a line missing its point number or connections is a damaged file.
    if (cols.length < 7) {
      fail(
        `${where}: expected 7 columns (path# type x y point# from to), got ${cols.length}`,
      );
    }
    // Decimal numbers only: Number() would also take "0x1" or "" as coordinates.
    if (!DECIMAL.test(cols[2]) || !DECIMAL.test(cols[3])) {
      fail(`${where}: non-numeric coordinate in "${line}"`);
    }
    const x = Number(cols[2]);
    const y = Number(cols[3]);
    // The point number, when present, must be this line's: a skipped or repeated line would
    // otherwise shift every later point onto the wrong landmark.
    const index = coords.length / 2;
    if (cols[4] !== String(index)) {
      fail(`${where}: point number ${cols[4]}, expected ${index} (points must be in order)`);
    }
    const lo = -ASF_COORD_TOLERANCE, hi = 1 + ASF_COORD_TOLERANCE;
    if (!(x >= lo && x <= hi && y >= lo && y <= hi)) {
      fail(
        `${where}: point #${coords.length / 2} (x=${cols[2]}, y=${cols[3]}) is outside [0, 1] ` +
          `(coordinates are fractions of the image width and height)`,
      );
    }
    coords.push(x, y);
  }
  if (count < 0) fail("no point count found (empty or all-comment file)");
  const found = coords.length / 2;
  if (found !== count) fail(`declares ${count} points but contains ${found} point lines`);
  if (expectedPoints !== undefined && count !== expectedPoints) {
    fail(`has ${count} points, expected ${expectedPoints}`);
  }
  return { points: Float32Array.from(coords), imageName };
}

/**
 * Kaggle-style landmark submissions: header `Id,Predicted`, one row per coordinate, faces in the
 * order of the test XML's boxes, `Id = i·136 + 2·k + c` (face i, landmark k, c = 0 for x and 1 for
 * y), values in original-image pixels written at full precision (never rounded or clipped).
 *
 * @module
 */

import { parseDecimal } from "./decimal.ts";

/** Values per face (68 landmarks × x, y). */
export const CSV_VALUES_PER_FACE = 136;

/**
 * Formats predictions (one Float32Array of 68 x, y pairs per face, original pixels) as CSV text
 * with a trailing newline. `faceIndices` gives each face's position in the XML (strictly
 * increasing; default 0, 1, 2, …): faces left out (skipped at prediction) then leave whole gaps
 * of 136 Ids instead of shifting every later face. Throws on a wrong length, a non-finite value
 * or bad indices.
 */
export function formatPredictionsCsv(
  preds: readonly Float32Array[],
  faceIndices?: readonly number[],
): string {
  if (faceIndices && faceIndices.length !== preds.length) {
    throw new Error(
      `formatPredictionsCsv: ${faceIndices.length} face indices for ${preds.length} faces`,
    );
  }
  const rows = ["Id,Predicted"];
  let prev = -1;
  preds.forEach((p, i) => {
    const face = faceIndices ? faceIndices[i] : i;
    if (!Number.isInteger(face) || face <= prev) {
      throw new Error(`formatPredictionsCsv: face index ${face} after ${prev} (must increase)`);
    }
    prev = face;
    if (p.length !== CSV_VALUES_PER_FACE) {
      throw new Error(
        `formatPredictionsCsv: face ${i} has ${p.length} values, expected ${CSV_VALUES_PER_FACE}`,
      );
    }
    for (let j = 0; j < p.length; j++) {
      if (!Number.isFinite(p[j])) {
        throw new Error(`formatPredictionsCsv: face ${i} value ${j} is ${p[j]}`);
      }
      // String(float32 widened to double) round-trips exactly through Number → Float32Array.
      rows.push(`${face * CSV_VALUES_PER_FACE + j},${p[j]}`);
    }
  });
  return rows.join("\n") + "\n";
}

/** A submission's faces with their XML positions (see {@link parsePredictionFaces}). */
export interface PredictionFaces {
  /** XML face index of each entry of `faces`, strictly increasing. */
  indices: number[];
  /** 68 x, y pairs per face. */
  faces: Float32Array[];
}

/**
 * Parses a submission back into one Float32Array per face. Validates the exact header, that Ids
 * are integers running 0, 1, 2, … in order, that values are finite numbers and that the row count
 * is a multiple of 136. Errors name `source` and the line.
 */
export function parsePredictionsCsv(text: string, source: string): Float32Array[] {
  return parseRows(text, source, false).faces;
}

/**
 * Like {@link parsePredictionsCsv}, but whole faces may be missing (a `predict:ibug --skip-bad`
 * file): each face's 136 rows must still be complete and in order, and Ids must increase.
 */
export function parsePredictionFaces(text: string, source: string): PredictionFaces {
  return parseRows(text, source, true);
}

function parseRows(text: string, source: string, gaps: boolean): PredictionFaces {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === "") lines.pop();
  if (lines.length === 0) throw new Error(`${source}: empty file`);
  if (lines[0].trim() !== "Id,Predicted") {
    throw new Error(`${source}:1: header must be exactly "Id,Predicted", got "${lines[0]}"`);
  }
  const n = lines.length - 1;
  if (n % CSV_VALUES_PER_FACE !== 0) {
    throw new Error(
      `${source}: ${n} value rows is not a multiple of ${CSV_VALUES_PER_FACE} (68 points × 2)`,
    );
  }
  const out: PredictionFaces = { indices: [], faces: [] };
  let base = 0; // Id of this face's first row
  for (let r = 0; r < n; r++) {
    const line = lines[r + 1];
    const at = `${source}:${r + 2}`;
    const f = line.split(",");
    if (f.length !== 2) throw new Error(`${at}: expected "Id,Predicted", got "${line}"`);
    const id = f[0].trim(), v = f[1].trim();
    if (!/^\d+$/.test(id)) throw new Error(`${at}: Id "${id}" is not a plain integer`);
    const k = r % CSV_VALUES_PER_FACE;
    // A face may start later (a gap of whole faces) only where gaps are allowed.
    if (k === 0 && gaps && Number(id) > base && Number(id) % CSV_VALUES_PER_FACE === 0) {
      base = Number(id);
    }
    const expected = base + k;
    if (Number(id) !== expected) {
      throw new Error(`${at}: Id ${id} out of order, expected ${expected}`);
    }
    const x = parseDecimal(v);
    if (!Number.isFinite(x)) throw new Error(`${at}: value "${v}" is not a finite number`);
    if (k === 0) {
      out.indices.push(base / CSV_VALUES_PER_FACE);
      out.faces.push(new Float32Array(CSV_VALUES_PER_FACE));
    }
    out.faces[out.faces.length - 1][k] = x;
    if (k === CSV_VALUES_PER_FACE - 1) base += CSV_VALUES_PER_FACE;
  }
  return out;
}

/**
 * Kaggle-style landmark submissions: header `Id,Predicted`, one row per coordinate, faces in the
 * order of the test XML's boxes, `Id = i·136 + 2·k + c` (face i, landmark k, c = 0 for x and 1 for
 * y), values in original-image pixels written at full precision (never rounded or clipped).
 *
 * @module
 */

/** Values per face (68 landmarks × x, y). */
export const CSV_VALUES_PER_FACE = 136;

/**
 * Formats predictions (one Float32Array of 68 x, y pairs per face, original pixels, in XML order)
 * as CSV text with a trailing newline. Throws on a wrong length or a non-finite value.
 */
export function formatPredictionsCsv(preds: readonly Float32Array[]): string {
  const rows = ["Id,Predicted"];
  preds.forEach((p, i) => {
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
      rows.push(`${i * CSV_VALUES_PER_FACE + j},${p[j]}`);
    }
  });
  return rows.join("\n") + "\n";
}

/**
 * Parses a submission back into one Float32Array per face. Validates the exact header, that Ids
 * are integers running 0, 1, 2, … in order, that values are finite numbers and that the row count
 * is a multiple of 136. Errors name `source` and the line.
 */
export function parsePredictionsCsv(text: string, source: string): Float32Array[] {
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
  const out: Float32Array[] = [];
  for (let r = 0; r < n; r++) {
    const line = lines[r + 1];
    const at = `${source}:${r + 2}`;
    const f = line.split(",");
    if (f.length !== 2) throw new Error(`${at}: expected "Id,Predicted", got "${line}"`);
    const id = f[0].trim(), v = f[1].trim();
    if (!/^\d+$/.test(id)) throw new Error(`${at}: Id "${id}" is not a plain integer`);
    if (Number(id) !== r) throw new Error(`${at}: Id ${id} out of order, expected ${r}`);
    const x = v === "" ? NaN : Number(v);
    if (!Number.isFinite(x)) throw new Error(`${at}: value "${v}" is not a finite number`);
    const i = Math.floor(r / CSV_VALUES_PER_FACE);
    if (r % CSV_VALUES_PER_FACE === 0) out.push(new Float32Array(CSV_VALUES_PER_FACE));
    out[i][r % CSV_VALUES_PER_FACE] = x;
  }
  return out;
}

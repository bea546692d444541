/**
 * Reader for the 300-W / iBUG `.pts` landmark format:
 *
 * ```
 * version: 1
 * n_points:  68
 * {
 * 81.111 109.405
 * …
 * }
 * ```
 *
 * The file's coordinates are 1-BASED (Matlab convention: the first pixel's centre is at 1). They
 * are returned 0-BASED (`x − 1`, `y − 1`), the convention of dlib's XML files, so the two agree.
 * Checked on the 300-W subset: the XML parts equal the `.pts` values minus 1, rounded to the
 * nearest integer (|difference| ≤ 0.5 px; see tests/ibug_pts_test.ts).
 *
 * @module
 */

/**
 * Parses `.pts` text into `expected` points, interleaved x, y, in 0-based pixels. Throws an Error
 * naming `source` and the line on a missing header or brace, a point count other than `expected`,
 * a malformed or non-finite coordinate, or extra content after `}`.
 */
export function parsePts(text: string, source: string, expected = 68): Float32Array {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n|\r/);
  const err = (i: number, msg: string): never => {
    throw new Error(`${source}:${i + 1}: ${msg}`);
  };
  let i = 0;
  let nPoints: number | null = null;
  // Header: `key: value` lines up to the opening brace.
  for (; i < lines.length; i++) {
    const l = lines[i].trim();
    if (l === "" || l.startsWith("//") || l.startsWith("#")) continue;
    if (l === "{") break;
    const m = /^([A-Za-z_]+)\s*:\s*(.*)$/.exec(l);
    if (!m) err(i, `expected a 'key: value' header line or '{', got "${clip(l)}"`);
    if (m![1].toLowerCase() === "n_points") {
      const n = /^\d+$/.test(m![2]) ? Number(m![2]) : NaN;
      if (!Number.isFinite(n)) err(i, `bad n_points "${clip(m![2])}"`);
      if (n !== expected) err(i, `n_points is ${n}, expected ${expected}`);
      nPoints = n;
    }
  }
  if (i >= lines.length) throw new Error(`${source}: no '{' opening the point list`);
  if (nPoints === null) err(i, "missing 'n_points:' header before '{'");
  const out = new Float32Array(2 * expected);
  let k = 0;
  for (i++; i < lines.length; i++) {
    const l = lines[i].trim();
    if (l === "") continue;
    if (l === "}") break;
    const f = l.split(/\s+/);
    if (f.length !== 2) err(i, `expected "x y", got "${clip(l)}"`);
    const x = Number(f[0]), y = Number(f[1]);
    if (f.some((s) => !NUM_RE.test(s))) err(i, `non-numeric coordinate in "${clip(l)}"`);
    // Stored as f32, where 1e39 is already infinite.
    if (!Number.isFinite(Math.fround(x)) || !Number.isFinite(Math.fround(y))) {
      err(i, `coordinate out of range in "${clip(l)}"`);
    }
    if (k >= expected) err(i, `more than ${expected} points`);
    out[2 * k] = x - 1;
    out[2 * k + 1] = y - 1;
    k++;
  }
  if (i >= lines.length) throw new Error(`${source}: no '}' closing the point list`);
  if (k !== expected) err(i, `${k} points before '}', expected ${expected}`);
  for (let j = i + 1; j < lines.length; j++) {
    if (lines[j].trim() !== "") err(j, `unexpected content after '}': "${clip(lines[j].trim())}"`);
  }
  return out;
}

const NUM_RE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function clip(s: string): string {
  return s.length > 40 ? s.slice(0, 40) + "…" : s;
}

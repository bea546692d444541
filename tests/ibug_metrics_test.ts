import assert from "node:assert/strict";
import {
  formatPredictionsCsv,
  parsePredictionFaces,
  parsePredictionsCsv,
} from "../data/kaggle_csv.ts";
import {
  meanAbsCoordError,
  meanBoxShape,
  meanNme,
  meanShapeBaseline,
  nme,
  placeShape,
} from "../data/nme.ts";

/** 68 points; outer eye corners 36 = (10, 20), 45 = (50, 20): inter-ocular distance 40. */
function truth(): Float32Array {
  const t = Float32Array.from({ length: 136 }, (_, i) => (i % 2 ? 30 + i : 5 + i));
  t.set([10, 20], 72);
  t.set([50, 20], 90);
  return t;
}

Deno.test("nme: hand-computed examples", () => {
  const t = truth();
  assert.equal(nme(t, t), 0);
  // Every point off by (3, 4): error 5 px per point, 5 / 40 = 12.5 %.
  const p = t.map((v, i) => v + (i % 2 ? 4 : 3));
  assert.ok(Math.abs(nme(p, t) - 12.5) < 1e-5);
  // One point off by 68 × 0.4 = 27.2 px: mean error 0.4 px → 1 %.
  const q = t.slice();
  q[0] += 27.2;
  assert.ok(Math.abs(nme(q, t) - 1) < 1e-5);
  assert.ok(Math.abs(meanNme([p, q], [t, t]) - 6.75) < 1e-5);
  // Normalised by the TRUTH's eyes, not the prediction's.
  const r = t.slice();
  r[90] += 40;
  assert.ok(Math.abs(nme(r, t) - (40 / 68 / 40) * 100) < 1e-5);
  assert.throws(() => nme(t.subarray(0, 134), t), /134/);
  assert.throws(() => meanNme([t], []), /1 predictions for 0/);
});

Deno.test("meanAbsCoordError: hand-computed", () => {
  const t = truth();
  const p = t.map((v, i) => v + (i % 2 ? -4 : 3));
  assert.ok(Math.abs(meanAbsCoordError(p, t) - 3.5) < 1e-6);
  assert.ok(Math.abs(meanAbsCoordError([p, t], [t, t]) - 1.75) < 1e-6);
});

Deno.test("mean-shape baseline: box-normalised mean placed into test boxes", () => {
  const box1 = { top: 10, left: 20, width: 100, height: 50 };
  const box2 = { top: 0, left: 0, width: 10, height: 10 };
  // Face 1: all points at box-relative (0.2, 0.4); face 2: at (0.6, 0.8).
  const shape = (b: typeof box1, u: number, v: number) =>
    Float32Array.from(
      { length: 136 },
      (_, i) => i % 2 ? b.top + v * b.height : b.left + u * b.width,
    );
  const train = [
    { box: box1, parts: shape(box1, 0.2, 0.4) },
    { box: { ...box2, parts: shape(box2, 0.6, 0.8) } }, // IbugFace-like: parts on the box
    { box: box2, parts: null }, // no landmarks: ignored
  ];
  const mean = meanBoxShape(train);
  assert.ok(Math.abs(mean[0] - 0.4) < 1e-6 && Math.abs(mean[1] - 0.6) < 1e-6);
  const test = { top: 100, left: 200, width: 40, height: 20 };
  const [pred] = meanShapeBaseline(train, [test]);
  assert.ok(Math.abs(pred[0] - (200 + 0.4 * 40)) < 1e-4);
  assert.ok(Math.abs(pred[135] - (100 + 0.6 * 20)) < 1e-4);
  assert.deepEqual(meanShapeBaseline(train, [{ box: test }])[0], pred);
  assert.deepEqual(placeShape(new Float32Array([0, 1]), test), new Float32Array([200, 120]));
  assert.throws(() => meanBoxShape([{ box: box2, parts: null }]), /no face with landmarks/);
});

Deno.test("kaggle csv: exact header, Ids i·136 + 2k + c, full precision, round trip", () => {
  const a = Float32Array.from({ length: 136 }, (_, i) => i * 1.1 - 7.3);
  const b = Float32Array.from({ length: 136 }, (_, i) => 1000 / (i + 3));
  b[0] = -12.345678;
  b[1] = 0.1;
  const csv = formatPredictionsCsv([a, b]);
  const lines = csv.split("\n");
  assert.equal(lines[0], "Id,Predicted");
  assert.equal(lines.length, 1 + 272 + 1); // trailing newline
  assert.equal(lines.at(-1), "");
  assert.equal(lines[1], `0,${a[0]}`);
  // face 1, landmark 0, y → Id 137
  assert.equal(lines[1 + 137], `137,${b[1]}`);
  assert.equal(lines[1 + 137], "137,0.10000000149011612"); // float32 0.1, not rounded
  // face 0, landmark 36, x → Id 72
  assert.equal(lines[1 + 72].split(",")[0], "72");
  const back = parsePredictionsCsv(csv, "sub.csv");
  assert.equal(back.length, 2);
  assert.deepEqual(back[0], a);
  assert.deepEqual(back[1], b);
  assert.deepEqual(parsePredictionsCsv(csv.replaceAll("\n", "\r\n"), "crlf.csv"), back);
  assert.equal(formatPredictionsCsv([]), "Id,Predicted\n");

  const bad = (text: string, re: RegExp) =>
    assert.throws(() => parsePredictionsCsv(text, "s.csv"), re);
  bad(csv.replace("Id,Predicted", "id,predicted"), /s\.csv:1: header/);
  bad(csv.replace("\n5,", "\n6,"), /s\.csv:7: Id 6 out of order, expected 5/);
  bad(csv.replace(/\n5,[^\n]*/, "\n5,abc"), /s\.csv:7: value "abc"/);
  bad(csv.replace(/\n5,[^\n]*/, "\n5,"), /s\.csv:7: value ""/);
  bad(csv.replace(/\n5,[^\n]*/, "\n5.0,1"), /s\.csv:7: Id "5\.0"/);
  bad(csv.split("\n").slice(0, 100).join("\n"), /99 value rows/);
  assert.throws(() => formatPredictionsCsv([a.subarray(0, 134)]), /face 0 has 134 values/);
  const nan = a.slice();
  nan[3] = NaN;
  assert.throws(() => formatPredictionsCsv([a, nan]), /face 1 value 3 is NaN/);

  // Faces left out (predict:ibug --skip-bad): the others keep their Ids; only the sparse
  // parser accepts the gap, and only whole faces may be missing.
  const gap = formatPredictionsCsv([a, b], [1, 3]);
  assert.equal(gap.split("\n")[1], `136,${a[0]}`);
  assert.equal(gap.split("\n")[137], `408,${b[0]}`);
  const sparse = parsePredictionFaces(gap, "gap.csv");
  assert.deepEqual(sparse.indices, [1, 3]);
  assert.deepEqual(sparse.faces, [a, b]);
  assert.deepEqual(parsePredictionFaces(csv, "sub.csv"), { indices: [0, 1], faces: back });
  assert.throws(
    () => parsePredictionsCsv(gap, "gap.csv"),
    /gap\.csv:2: Id 136 out of order, expected 0/,
  );
  assert.throws(
    () => parsePredictionFaces(gap.replace("\n137,", "\n200,"), "g.csv"),
    /g\.csv:3: Id 200 out of order, expected 137/,
  );
  assert.throws(() => formatPredictionsCsv([a, b], [2, 2]), /face index 2 after 2/);
  assert.throws(() => formatPredictionsCsv([a, b], [0]), /1 face indices for 2 faces/);
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { ASF_COORD_TOLERANCE, parseAsf } from "../data/asf.ts";

/** Asserts that `fn` throws an Error whose message contains every one of `texts`. */
function throwsWith(fn: () => unknown, ...texts: string[]) {
  assert.throws(fn, (e: Error) => {
    for (const t of texts) assert.ok(e.message.includes(t), `"${t}" not in: ${e.message}`);
    return true;
  });
}

const IMM_DIR = new URL("../../shared/data/imm_face_db", import.meta.url).pathname;
const hasImm = await Deno.stat(IMM_DIR).then(() => true, () => false);

function asfText(pts: number[][], opts: { count?: number; extra?: boolean } = {}): string {
  const lines = ["#", "# AAM shape file", "#", "", `${opts.count ?? pts.length}`, "", "# points"];
  pts.forEach(([x, y], i) => {
    lines.push(`0 \t4 \t${x} \t${y} \t${i} \t0 \t1${opts.extra ? " \t7 \t8 \t9" : ""}`);
  });
  lines.push("", "# host image", "01-1m.jpg", "");
  return lines.join("\r\n");
}

Deno.test("asf: valid file with comments, CRLF and extra columns", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "a.asf");
    await Deno.writeTextFile(file, asfText([[0.25, 0.5], [0.75, 0.125], [1, 0]], { extra: true }));
    const s = parseAsf(await Deno.readTextFile(file), file, 3);
    assert.deepEqual(Array.from(s.points), [0.25, 0.5, 0.75, 0.125, 1, 0]);
    assert.deepEqual(s.imageName, "01-1m.jpg");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("asf: errors name the file and the problem", () => {
  const pts = [[0.1, 0.2], [0.3, 0.4]];
  throwsWith(
    () => parseAsf(asfText(pts, { count: 3 }), "x/bad_count.asf"),
    "x/bad_count.asf",
    "declares 3 points but contains 2",
  );
  throwsWith(() => parseAsf(asfText(pts), "x/expect.asf", 58), "expect.asf: has 2 points");
  const bad = asfText(pts).replace("0.3", "0.3x");
  throwsWith(() => parseAsf(bad, "x/nan.asf"), "nan.asf: line");
  throwsWith(() => parseAsf(bad, "x/nan.asf"), "non-numeric");
  throwsWith(() => parseAsf("# only comments\n", "empty.asf"), "empty.asf");
  throwsWith(() => parseAsf("two\n", "c.asf"), "point count");
  throwsWith(() => parseAsf("1\n0 4 0.5\n", "short.asf"), "expected 7 columns", "got 3");
  // Four columns (no point number) used to pass: a dropped line would then shift every point.
  throwsWith(() => parseAsf("1\n0 4 0.5 0.5\n", "four.asf"), "four.asf: line 2", "got 4");
  throwsWith(
    () => parseAsf(asfText(pts).replace("0.3 \t0.4 \t1", "0.3 \t0.4 \t99"), "x/order.asf"),
    "order.asf: line",
    "point number 99, expected 1",
  );
  throwsWith(() => parseAsf(asfText(pts).replace("0.3", "0x1"), "x/hex.asf"), "non-numeric");
});

Deno.test("asf: coordinates outside [0, 1] are errors naming the file, line and point", () => {
  const pts = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]];
  // Line numbers: 7 header lines (see asfText), so point k is on line 8 + k.
  throwsWith(
    () => parseAsf(asfText([[0.1, 0.2], [1.25, 0.4], [0.5, 0.6]]), "x/far.asf"),
    "x/far.asf: line 9: point #1",
    "x=1.25",
    "outside [0, 1]",
  );
  throwsWith(
    () => parseAsf(asfText([[0.1, 0.2], [0.3, 0.4], [0.5, -0.01]]), "neg.asf"),
    "neg.asf: line 10: point #2",
    "y=-0.01",
  );
  // Pixel coordinates written by mistake are caught too.
  throwsWith(() => parseAsf(asfText([[320, 240]]), "px.asf"), "px.asf: line 8: point #0");
  // Exactly 0 and 1, and rounding slack within ASF_COORD_TOLERANCE, are accepted.
  const t = ASF_COORD_TOLERANCE / 2;
  const ok = parseAsf(asfText([[0, 1], [-t, 1 + t], ...pts]), "edge.asf");
  assert.equal(ok.points.length, 10);
  throwsWith(
    () => parseAsf(asfText([[0.5, 1 + 3 * ASF_COORD_TOLERANCE]]), "just_over.asf"),
    "just_over.asf",
    "outside [0, 1]",
  );
});

Deno.test({
  name: "asf: all 240 real IMM files parse with 58 points in [0,1]",
  ignore: !hasImm,
  fn: async () => {
    const files = [...Deno.readDirSync(IMM_DIR)].map((e) => e.name).filter((n) =>
      n.endsWith(".asf")
    );
    assert.deepEqual(files.length, 240);
    for (const f of files) {
      const s = parseAsf(await Deno.readTextFile(join(IMM_DIR, f)), f, 58);
      assert.deepEqual(s.points.length, 116);
      assert.deepEqual(s.imageName, f.replace(".asf", ".jpg"));
      for (const v of s.points) assert(v >= 0 && v <= 1, `${f}: ${v}`);
    }
  },
});

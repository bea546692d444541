import assert from "node:assert/strict";
import { join } from "node:path";
import { flattenFaces, parseDlibXml, parseDlibXmlDetailed } from "../data/dlib_xml.ts";
import { parsePts } from "../data/pts.ts";
import { type FakeBox, fakeXml, gridParts, hasIbug, IBUG_DIR } from "./ibug_fake.ts";

const BOX: FakeBox = { top: 10, left: -5, width: 40, height: 30 };

Deno.test("dlib xml: parses boxes, parts in name order, box-only lists, flattening", () => {
  const parts = gridParts(BOX);
  const xml = fakeXml([
    ["x/one.jpg", [{ ...BOX, parts }, { ...BOX, top: 99, parts }]],
    ["two.png", [{ top: 1, left: 2, width: 3, height: 4 }]],
    ["empty.png", []],
  ]);
  const imgs = parseDlibXml(xml, "fake.xml");
  assert.equal(imgs.length, 3);
  assert.equal(imgs[0].file, "x/one.jpg");
  assert.deepEqual(imgs[0].boxes.map((b) => [b.top, b.left, b.width, b.height]), [
    [10, -5, 40, 30],
    [99, -5, 40, 30],
  ]);
  assert.deepEqual([...imgs[0].boxes[0].parts!], parts);
  assert.equal(imgs[1].boxes[0].parts, null);
  assert.equal(imgs[2].boxes.length, 0);
  const faces = flattenFaces(imgs);
  assert.deepEqual(faces.map((f) => [f.file, f.imageIndex, f.boxIndex]), [
    ["x/one.jpg", 0, 0],
    ["x/one.jpg", 0, 1],
    ["two.png", 1, 0],
  ]);
  assert.equal(faces[2].parts, null);

  // Parts out of order, double quotes, entities, odd whitespace, ignore flag, unknown elements.
  const shuffled = Array.from({ length: 68 }, (_, k) => 67 - k).map((k) =>
    `<part name="${String(k).padStart(2, "0")}" x = "${k}.5" y='${-k}' />`
  ).join("\n");
  const xml2 = `<?xml version="1.0"?><!DOCTYPE dataset><dataset><images>
    <image file="a&amp;b &apos;c&apos;.jpg" ><box top="1" left="2" width="3" height="4"
      ignore='1'><label>x</label>${shuffled}</box></image></images></dataset>`;
  const [img] = parseDlibXml(xml2, "s.xml");
  assert.equal(img.file, "a&b 'c'.jpg");
  assert.equal(img.boxes[0].ignore, true);
  for (let k = 0; k < 68; k++) {
    assert.equal(img.boxes[0].parts![2 * k], k + 0.5);
    assert.ok(img.boxes[0].parts![2 * k + 1] === -k);
  }
});

Deno.test("dlib xml: malformed input names the source, element and line", () => {
  const parts = gridParts(BOX);
  const good = fakeXml([["f0.jpg", [{ ...BOX, parts }]], ["f1.jpg", [{ ...BOX, parts }]]]);
  const bad = (text: string, ...want: (string | RegExp)[]) => {
    assert.throws(() => parseDlibXml(text, "bad.xml"), (e: Error) => {
      assert.ok(e.message.includes("bad.xml"), e.message);
      for (const w of want) {
        assert.ok(typeof w === "string" ? e.message.includes(w) : w.test(e.message), e.message);
      }
      return true;
    });
  };
  bad(good.replace("top='10' left='-5'", "top='10'"), "image #0", "f0.jpg", "'left'");
  bad(
    good.replace(/top='10'(.*\n[^]*?)top='10'/, "top='10'$1top='1O'"),
    "f1.jpg",
    "'1O'",
    "number",
  );
  bad(good.replace("name='05'", "name='68'"), "f0.jpg", "'68'", "out of range");
  bad(good.replace("name='05'", "name='07'"), "f0.jpg", "'07'", "duplicated");
  bad(good.replace(/<part name='05'[^>]*>/, ""), "f0.jpg", "67 of 68", "05");
  bad(good.replace("<image file='f1.jpg'>", "<image>"), "image #1", "'file'");
  bad(good.replace("x='", "x='abc"), "f0.jpg", "part '00'", "not a number");
  bad(good.replace("width='40'", "width='0'"), "f0.jpg", "non-positive");
  bad(good.replace("height='30'", "height='-3'"), "f0.jpg", "box #0", "non-positive size 40×-3");
  bad(good.replace("top='10'", "top='1e999'"), "f0.jpg", "box #0", "'1e999' is not finite");
  bad(good.replace(/x='[^']*'/, "x='-1e999'"), "f0.jpg", "part '00'", "'-1e999' is not finite");
  // Finite as a double, infinite as the f32 the parts are stored in.
  bad(good.replace(/x='[^']*'/, "x='1e39'"), "f0.jpg", "part '00'", "'1e39' is not finite");
  bad(good.replace("</box>", "</image>"), /bad\.xml:\d+: closing tag <\/image>/);
  bad(good.slice(0, good.indexOf("<image file='f1.jpg'>")), "unexpected end of file", "<images>");
  bad(good.slice(0, good.indexOf("name='05'") + 3), "unterminated tag <part");
  bad(good.replace("top='10'", "top=10"), "not quoted");
  bad("<html></html>", "not a dlib");
  // The failing line is reported.
  bad(good.replace("name='05'", "name='99'"), "bad.xml:14:");
});

Deno.test("dlib xml: detailed parse keeps going and lists problems in file order", () => {
  const parts = gridParts(BOX);
  const xml = fakeXml([
    ["a.jpg", [{ ...BOX, parts }]],
    ["b.jpg", [{ ...BOX, parts: parts.slice(0, 20) }]], // parts 00..09 only
    ["c.jpg", [{ ...BOX, parts }]],
  ]).replace(/(<image file='b.jpg'>[^]*?)<\/box>/, (_, s: string) => {
    // keep only the first 10 parts of b.jpg's box
    return s.split("\n").filter((l) => !/name='(1\d|[2-6]\d)'/.test(l)).join("\n") + "</box>";
  });
  const { images, issues, entries } = parseDlibXmlDetailed(xml, "d.xml");
  assert.deepEqual(images.map((i) => [i.file, i.boxes.length]), [["a.jpg", 1], ["b.jpg", 0], [
    "c.jpg",
    1,
  ]]);
  assert.equal(issues.length, 1);
  assert.equal(issues[0].file, "b.jpg");
  assert.match(issues[0].message, /10 of 68 parts/);
  assert.deepEqual(entries.map((e) => [e.file, e.box !== null]), [["a.jpg", true], [
    "b.jpg",
    false,
  ], ["c.jpg", true]]);
  // Each entry knows the line of its <box> tag.
  const lines = xml.split("\n");
  for (const e of entries) {
    assert.match(lines[e.line - 1], /^\s*<box /);
    assert.match(lines[e.line - 2], new RegExp(`<image file='${e.file}'>`));
  }
  assert.throws(() => parseDlibXml(xml, "d.xml"), /b\.jpg/);
});

Deno.test("pts: 1-based file → 0-based points; errors name file and line", () => {
  const lines = ["version: 1", "n_points:  68", "{"];
  for (let k = 0; k < 68; k++) lines.push(`${k + 1.25} ${2 * k + 1}`);
  lines.push("}", "");
  const p = parsePts(lines.join("\r\n"), "f.pts");
  assert.equal(p.length, 136);
  assert.equal(p[0], 0.25);
  assert.equal(p[1], 0);
  assert.equal(p[134], 67.25);
  assert.equal(p[135], 134);
  const bad = (text: string, re: RegExp) => assert.throws(() => parsePts(text, "f.pts"), re);
  bad(lines.join("\n").replace("n_points:  68", "n_points: 67"), /f\.pts:2: n_points is 67/);
  bad(lines.join("\n").replace("3.25 5", "3.25 x5"), /f\.pts:6: non-numeric/);
  bad(lines.join("\n").replace("3.25 5", "3.25 1e39"), /f\.pts:6: coordinate out of range/);
  bad(lines.join("\n").replace("3.25 5", "3.25"), /f\.pts:6: expected "x y"/);
  bad(lines.join("\n").replace("}", ""), /f\.pts: no '}'/);
  bad(lines.filter((l) => l !== "{").join("\n"), /f\.pts.*'{'|f\.pts:4/);
  bad(lines.filter((l) => !l.startsWith("5.25")).join("\n"), /f\.pts:71: 67 points/);
  bad(lines.join("\n") + "junk\n", /f\.pts:73: unexpected content/);
  bad(lines.join("\n").replace("n_points:  68\n", ""), /missing 'n_points/);
});

Deno.test({
  name: "dlib xml + pts: real 300-W subset (2012 train faces with parts, 554 test boxes)",
  ignore: !hasIbug,
  fn: async () => {
    const train = flattenFaces(parseDlibXml(
      await Deno.readTextFile(join(IBUG_DIR, "labels_300W_subset_train.xml")),
      "train.xml",
    ));
    assert.equal(train.length, 2012);
    assert.ok(train.every((f) => f.parts !== null && f.parts.length === 136));
    const test = flattenFaces(parseDlibXml(
      await Deno.readTextFile(join(IBUG_DIR, "labels_300W_subset_test_boxes.xml")),
      "test.xml",
    ));
    assert.equal(test.length, 554);
    assert.ok(test.every((f) => f.parts === null && f.box.width > 0));
    assert.ok(test.every((f) => /^(helen|lfpw)\/testset\//.test(f.file)));

    // Convention: XML part = round(pts − 1): both are 0-based after parsePts, within 0.5 px.
    let n = 0, rounded = 0, maxDiff = 0;
    for (const f of train.filter((_, i) => i % 4 === 0)) {
      const ptsFile = join(IBUG_DIR, f.file.replace(/\.[^.]+$/, ".pts"));
      const p = parsePts(await Deno.readTextFile(ptsFile), ptsFile);
      for (let j = 0; j < 136; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(f.parts![j] - p[j]));
        if (f.parts![j] === Math.round(p[j])) rounded++;
        n++;
      }
    }
    assert.ok(maxDiff <= 0.5 + 1e-4, `max |xml − (pts − 1)| = ${maxDiff}`);
    assert.ok(rounded / n > 0.99, `only ${rounded}/${n} XML parts equal round(pts − 1)`);
  },
});

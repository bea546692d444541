// deno-lint-ignore-file no-import-prefix
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { SaxesParser } from "npm:saxes@6.0.0";
import { decode, type Image } from "npm:imagescript@1.3.1";
import { lossCurveSvg } from "../plot/loss_svg.ts";
import { keypointsSvg } from "../plot/keypoints_svg.ts";
import { filtersSvg } from "../plot/filters_svg.ts";

interface El {
  name: string;
  attrs: Record<string, string>;
  /** Names of the enclosing elements' `class` attributes, outermost first. */
  classes: string[];
}

/** Parses with a strict, namespace-aware XML parser; throws on anything not well-formed. */
function parseSvg(svg: string): El[] {
  const p = new SaxesParser({ xmlns: true });
  const els: El[] = [];
  const stack: string[] = [];
  let err: Error | undefined;
  p.on("error", (e) => err ??= e);
  p.on("opentag", (t) => {
    const attrs: Record<string, string> = {};
    for (const [k, a] of Object.entries(t.attributes)) attrs[k] = (a as { value: string }).value;
    els.push({ name: t.local, attrs, classes: [...stack] });
    stack.push(attrs.class ?? "");
  });
  p.on("closetag", () => stack.pop());
  p.write(svg).close();
  if (err) throw err;
  assert.equal(els[0].name, "svg");
  assert.equal(els[0].attrs.xmlns, "http://www.w3.org/2000/svg");
  return els;
}

/** The document minus embedded base64 payloads (which may contain "NaN" by chance). */
const textOf = (svg: string) => svg.replace(/data:image\/png;base64,[A-Za-z0-9+/=]+/g, "");

function assertClean(svg: string) {
  const t = textOf(svg);
  for (const bad of ["NaN", "undefined", "Infinity", "null"]) {
    assert.ok(!t.includes(bad), `SVG contains "${bad}"`);
  }
}

/** Labels under the x axis (the only texts placed below their anchor with dy 0.71em). */
const xTickLabels = (svg: string) =>
  [...svg.matchAll(/dy="0.71em"[^>]*>([^<]*)</g)].map((m) => m[1]);

const count = (els: El[], name: string, inClass?: string) =>
  els.filter((e) => e.name === name && (!inClass || e.classes.includes(inClass))).length;

// ---------------------------------------------------------------- loss curves

Deno.test("lossCurveSvg: two series of different lengths, log axis", () => {
  const train = Array.from({ length: 30 }, (_, i) => 2 * Math.exp(-i / 6) + 0.01);
  const val = Array.from({ length: 20 }, (_, i) => 2.2 * Math.exp(-i / 7) + 0.05);
  const svg = lossCurveSvg([{ name: "train", values: train }, { name: "val", values: val }], {
    title: "nose <keypoint> & co",
  });
  const els = parseSvg(svg);
  assertClean(svg);
  assert.equal(count(els, "path", "series"), 2);
  assert.equal(count(els, "circle"), 0); // no isolated points
  assert.ok(svg.includes("nose &lt;keypoint&gt; &amp; co"));
  assert.ok(svg.includes(">train<") && svg.includes(">val<"));
  // x runs to the longest series: the last x tick is epoch 30.
  assert.equal(xTickLabels(svg).at(-1), "30");
});

Deno.test("lossCurveSvg: a single epoch draws point markers", () => {
  const svg = lossCurveSvg([{ name: "train", values: [0.7] }, { name: "val", values: [0.9] }]);
  const els = parseSvg(svg);
  assertClean(svg);
  assert.equal(count(els, "circle", "series"), 2);
  assert.deepEqual(xTickLabels(svg), ["1"]);
});

Deno.test("lossCurveSvg: NaN, Infinity and ≤0 on a log axis are skipped, never emitted", () => {
  const values = [1, 0.5, NaN, 0.3, 0, 0.2, Infinity, -1, 0.1, 0.09];
  const svg = lossCurveSvg([{ name: "loss", values }, { name: "dead", values: [NaN, 0] }]);
  const els = parseSvg(svg);
  assertClean(svg);
  for (const p of els.filter((e) => e.name === "path")) {
    assert.match(p.attrs.d, /^[MLZ0-9.,\-e]+$/); // d3 writes an isolated point as "Mx,yZ"
  }
  // 0.3 and 0.2 are cut off on both sides, so they need markers to stay visible.
  assert.equal(count(els, "circle", "series"), 2);
  assert.ok(svg.includes("6 values not drawn"));
  assert.ok(svg.includes("dead (no data)"));

  // Linear axis: zero and negatives are fine, only non-finite values are dropped.
  const lin = lossCurveSvg([{ name: "loss", values }], { logY: false, yLabel: "Δ" });
  parseSvg(lin);
  assertClean(lin);
  assert.ok(lin.includes("2 values not drawn"));
});

Deno.test("lossCurveSvg: empty input still gives a valid document", () => {
  for (const svg of [lossCurveSvg([]), lossCurveSvg([{ name: "x", values: [] }])]) {
    parseSvg(svg);
    assertClean(svg);
    assert.ok(svg.includes("no data"));
  }
  const flat = lossCurveSvg([{ name: "flat", values: [2, 2, 2] }], { width: 300, height: 200 });
  parseSvg(flat);
  assertClean(flat);
});

// ---------------------------------------------------------------- keypoints

function findImmDir(): string | undefined {
  const candidates = [
    Deno.env.get("FACEKIT_IMM_DIR"),
    fileURLToPath(new URL("../shared/data/imm_face_db", import.meta.url)),
    fileURLToPath(new URL("../../shared/data/imm_face_db", import.meta.url)),
  ];
  for (const c of candidates) {
    try {
      if (c && Deno.statSync(`${c}/01-1m.jpg`).isFile) return c;
    } catch { /* try the next */ }
  }
}
const immDir = findImmDir();

/** The gray image and the 58 annotated points (pixels) of one IMM face. */
async function loadImm(dir: string, name: string) {
  const img = await decode(await Deno.readFile(`${dir}/${name}.jpg`)) as Image;
  const rgba = img.bitmap;
  const data = new Float32Array(img.width * img.height);
  for (let i = 0; i < data.length; i++) {
    data[i] = (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]) / 255;
  }
  // .asf: comment lines, the point count, then rows "path type x_rel y_rel …".
  const rows = (await Deno.readTextFile(`${dir}/${name}.asf`)).split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const n = Number(rows[0]);
  const pts = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const c = rows[1 + i].split(/\s+/).map(Number);
    pts[2 * i] = c[2] * img.width;
    pts[2 * i + 1] = c[3] * img.height;
  }
  return { image: { width: img.width, height: img.height, data }, truth: pts };
}

/** Decodes the PNG embedded in an <image> element. */
async function embedded(el: El): Promise<Image> {
  const b64 = el.attrs.href.replace("data:image/png;base64,", "");
  const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  return await decode(bytes) as Image;
}

Deno.test({
  name: "keypointsSvg: real IMM face, points on the face, image not flipped",
  ignore: immDir === undefined,
  fn: async () => {
    const face = await loadImm(immDir!, "01-1m");
    assert.equal(face.truth.length, 58 * 2);
    const pred = face.truth.map((v, i) => v + 4 * Math.sin(i));
    const svg = await keypointsSvg([{ ...face, pred, title: "best 1 — 1.8 px" }], { scale: 0.5 });
    const els = parseSvg(svg);
    assertClean(svg);
    assert.equal(count(els, "circle", "truth"), 58);
    assert.equal(count(els, "circle", "pred"), 58);
    assert.equal(count(els, "line", "errors"), 58);
    assert.equal(count(els, "circle", "legend"), 2);
    assert.ok(svg.includes("best 1 — 1.8 px"));

    // Points are drawn at pixel × scale and all lie on the face, i.e. the central part of the
    // photo (the annotated man fills roughly x 35–62 %, y 43–86 % of 01-1m).
    const truth = els.filter((e) => e.name === "circle" && e.classes.includes("truth"));
    truth.forEach((c, i) => {
      assert.ok(Math.abs(Number(c.attrs.cx) - face.truth[2 * i] * 0.5) < 0.01);
      assert.ok(Math.abs(Number(c.attrs.cy) - face.truth[2 * i + 1] * 0.5) < 0.01);
      assert.ok(Number(c.attrs.cx) > 0.3 * 320 && Number(c.attrs.cx) < 0.7 * 320);
      assert.ok(Number(c.attrs.cy) > 0.35 * 240 && Number(c.attrs.cy) < 0.9 * 240);
    });

    // The embedded PNG is the input, pixel for pixel and the right way up.
    const [imgEl] = els.filter((e) => e.name === "image");
    assert.equal(imgEl.attrs.width, "320");
    const png = await embedded(imgEl);
    assert.equal(png.width, 640);
    assert.equal(png.height, 480);
    for (const [x, y] of [[0, 0], [639, 0], [320, 240], [100, 470], [600, 50]]) {
      const want = Math.round(face.image.data[y * 640 + x] * 255);
      assert.equal(png.bitmap[4 * (y * 640 + x)], want, `pixel ${x},${y}`);
    }
  },
});

Deno.test("keypointsSvg: grid, NaN points skipped, bad input rejected", async () => {
  // A gradient image: dark at the top, bright at the bottom, to catch a vertical flip.
  const w = 8, h = 6;
  const data = Float32Array.from({ length: w * h }, (_, i) => Math.floor(i / w) / (h - 1));
  data[0] = NaN;
  data[1] = 2; // out of range → clamped
  const panels = [
    { image: { width: w, height: h, data }, truth: new Float32Array([1, 1, NaN, 2, 4, 4]) },
    {
      image: { width: w, height: h, data },
      truth: new Float32Array([1, 1]),
      pred: new Float32Array([2, Infinity]),
      title: "a < b",
    },
    { image: { width: w, height: h, data }, pred: new Float32Array([3, 3]) },
  ];
  const svg = await keypointsSvg(panels, { columns: 2 });
  const els = parseSvg(svg);
  assertClean(svg);
  assert.equal(els.filter((e) => e.attrs.class === "panel").length, 3);
  assert.equal(count(els, "circle", "truth"), 3);
  assert.equal(count(els, "circle", "pred"), 1);
  assert.equal(count(els, "line", "errors"), 0);
  assert.ok(svg.includes("a &lt; b"));
  // Two columns: the third panel starts a new row at the first panel's x.
  const pos = els.filter((e) => e.attrs.class === "panel").map((e) => e.attrs.transform);
  assert.equal(pos[2].split(",")[0], pos[0].split(",")[0]);
  assert.notEqual(pos[2], pos[0]);

  const png = await embedded(els.find((e) => e.name === "image")!);
  assert.equal(png.bitmap[0], 0); // NaN → black
  assert.equal(png.bitmap[4], 255); // 2 → white
  assert.equal(png.bitmap[4 * (w * (h - 1) + 3)], 255); // bottom row bright
  assert.equal(png.bitmap[4 * 2], 0); // top row dark

  await assert.rejects(() => keypointsSvg([{ image: { width: 2, height: 2, data } }]));
  await assert.rejects(() =>
    keypointsSvg([{ image: { width: w, height: h, data }, truth: new Float32Array(3) }])
  );
});

// ---------------------------------------------------------------- filters

/** Parses d3's "rgb(r, g, b)". */
const rgb = (s: string) => s.match(/\d+/g)!.map(Number);

Deno.test("filtersSvg: one kernel group per out×in pair, colours diverge around 0", () => {
  const w1 = new Float32Array(4 * 1 * 3 * 3);
  w1[0] = 1; // kernel (0,0), top-left: most positive → red
  w1[8] = -1; // kernel (0,0), bottom-right: most negative → blue
  w1[9] = NaN; // kernel (1,0), top-left: neutral gray
  const w2 = Float32Array.from({ length: 3 * 4 * 5 * 5 }, (_, i) => Math.sin(i));
  const layers = [
    { name: "conv1", weight: w1, shape: [4, 1, 3, 3] as [number, number, number, number] },
    { name: "conv2 <b>", weight: w2, shape: [3, 4, 5, 5] as [number, number, number, number] },
  ];
  const svg = filtersSvg(layers);
  const els = parseSvg(svg);
  assertClean(svg);
  assert.equal(els.filter((e) => e.attrs.class === "layer").length, 2);
  assert.equal(els.filter((e) => e.attrs.class === "kernel").length, 4 * 1 + 3 * 4);
  assert.equal(els.filter((e) => e.attrs.class === "colorbar").length, 2);
  // Each kernel: kh·kw cells plus one outline.
  assert.equal(count(els, "rect", "kernel"), 4 * (9 + 1) + 12 * (25 + 1));
  assert.ok(svg.includes("conv2 &lt;b&gt;"));

  const firstKernel = els.filter((e) => e.name === "rect" && e.classes.includes("kernel"));
  const [tl, , , , , , , , br, outline] = firstKernel;
  assert.equal(tl.attrs.x, "0");
  assert.equal(tl.attrs.y, "0");
  assert.equal(br.attrs.x, br.attrs.y); // bottom-right cell is on the diagonal
  assert.ok(Number(br.attrs.x) > 0);
  const [r1, , b1] = rgb(tl.attrs.fill);
  const [r2, g2, b2] = rgb(br.attrs.fill);
  assert.ok(r1 > 100 && r1 > b1 + 50, `positive should be red: ${tl.attrs.fill}`);
  assert.ok(b2 > g2 && b2 > r2 + 50, `negative should be blue: ${br.attrs.fill}`);
  const [r0, g0, b0] = rgb(firstKernel[1].attrs.fill); // a zero weight
  assert.ok(Math.min(r0, g0, b0) > 230, `zero should be near white: ${firstKernel[1].attrs.fill}`);
  assert.equal(outline.attrs.fill, "none");
  assert.equal(firstKernel[10].attrs.fill, "#888");

  // The colour bar is labelled with ±max|w| of its own layer.
  assert.ok(svg.includes(">−1</text>") && svg.includes(">1</text>"));

  // All-zero layer: no division by zero.
  const zeros = filtersSvg([{ name: "z", weight: new Float32Array(9), shape: [1, 1, 3, 3] }]);
  parseSvg(zeros);
  assertClean(zeros);
  assert.throws(() =>
    filtersSvg([{ name: "bad", weight: new Float32Array(8), shape: [1, 1, 3, 3] }])
  );
});

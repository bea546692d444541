// `deno task predict` end to end as a subprocess, on tiny run folders whose last layer is set to
// constants, so the expected points in original-image pixels are known exactly.
import assert from "node:assert/strict";
import { join } from "node:path";
// deno-lint-ignore no-import-prefix
import { Image } from "npm:imagescript@1.3.1";
import { initRuntime } from "../nn/runtime.ts";
import { KeypointCnn, NOSENET } from "../nn/models/keypoint_cnn.ts";
import { ResNet18, type ResNet18Config } from "../nn/models/resnet18.ts";
import { saveModel } from "../nn/serialize.ts";
import { grayPng } from "./image_fixtures.ts";
import { faceCropMatrix, pointsToOriginal } from "../data/face_crop.ts";

const PREDICT = new URL("../tasks/predict.ts", import.meta.url).pathname;
const NOSE_XY = [0.25, 0.75]; // the nose model's constant output, relative to the image size
const RESNET: ResNet18Config = { inChannels: 1, inputSize: 64, outputs: 136 };
/** The ResNet's constant output: point k at crop coordinates (0.3 + k/340, 0.6 − k/400) · 64. */
const RESNET_REL = Float32Array.from(
  { length: 136 },
  (_, i) => i % 2 === 0 ? 0.3 + (i >> 1) / 340 : 0.6 - (i >> 1) / 400,
);

interface Result {
  image: string;
  width: number;
  height: number;
  points: [number, number][];
  box?: { left: number; top: number; width: number; height: number };
}

/** A gray PNG with a ramp pattern. */
function rampPng(w: number, h: number): Uint8Array {
  const px = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[y * w + x] = (x * 7 + y * 3) & 255;
  return grayPng(w, h, px);
}

/** An RGBA image with a color ramp and partly transparent pixels. */
function colorImage(w: number, h: number): Image {
  const img = new Image(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      img.bitmap.set([(x * 3) & 255, (y * 5) & 255, 128, x % 2 ? 255 : 90], 4 * (y * w + x));
    }
  }
  return img;
}

/** Writes the three test images and a corrupt one; returns their paths (corrupt last). */
async function writeImages(dir: string): Promise<string[]> {
  const files = {
    "gray.png": rampPng(40, 30), // smaller than NoseNet's 80×60 input: upscaled
    "rgba.png": await colorImage(200, 150).encode(), // RGBA PNG, downscaled
    "odd.jpg": await colorImage(101, 77).encodeJPEG(90), // JPEG of odd size
    "broken.png": new TextEncoder().encode("this is not a PNG"),
  };
  for (const [name, bytes] of Object.entries(files)) await Deno.writeFile(join(dir, name), bytes);
  return Object.keys(files).map((n) => join(dir, n));
}

/** A NoseNet run folder whose output is always NOSE_XY. */
async function noseRun(dir: string): Promise<void> {
  const m = new KeypointCnn(NOSENET, 1);
  m.fc2.weight.write(new Float32Array(m.fc2.weight.size));
  m.fc2.bias!.write(Float32Array.from(NOSE_XY));
  const config = { task: "nose", model: "KeypointCnn", architecture: NOSENET, points: [52] };
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(config, null, 2));
  await saveModel(join(dir, "model.safetensors"), m, { config: JSON.stringify(config) });
  m.dispose();
}

/** A small-input ResNet-18 run folder whose output is always RESNET_REL. */
async function resnetRun(dir: string): Promise<void> {
  const m = new ResNet18(RESNET, 2);
  m.fc.weight.write(new Float32Array(m.fc.weight.size));
  m.fc.bias!.write(RESNET_REL);
  const config = { task: "ibug", model: "ResNet18", architecture: RESNET };
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(config, null, 2));
  await saveModel(join(dir, "model.safetensors"), m, { config: JSON.stringify(config) });
  m.dispose();
}

async function predict(cwd: string, ...args: string[]) {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", PREDICT, ...args],
    cwd,
    env: { INIT_CWD: cwd },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

/** A drawn point (legend markers carry a fill attribute, points inherit theirs). */
const POINT = /<circle cx="[^"]*" cy="[^"]*" r="[^"]*"\/>/g;
const close = (a: number, b: number, tol = 2e-3) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

Deno.test("predict: NoseNet on gray/RGBA PNG and odd JPEG, a corrupt file, JSON, CSV, SVGs", async () => {
  await initRuntime();
  const dir = await Deno.makeTempDir({ prefix: "facekit_predict_" });
  try {
    const run = join(dir, "run");
    await noseRun(run);
    const paths = await writeImages(dir);
    // Relative image paths and the default --out (the caller's folder).
    const names = paths.map((p) => p.slice(dir.length + 1));
    const r = await predict(dir, "--model", "run", ...names);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /broken\.png/);
    assert.match(r.err, /1 of 4 images failed/);
    const results: Result[] = JSON.parse(r.out);
    assert.deepEqual(results.map((x) => x.image), ["gray.png", "rgba.png", "odd.jpg"]);
    const sizes = [[40, 30], [200, 150], [101, 77]];
    results.forEach((res, i) => {
      assert.deepEqual([res.width, res.height], sizes[i]);
      assert.equal(res.points.length, 1);
      assert.equal(res.box, undefined);
      close(res.points[0][0], NOSE_XY[0] * res.width);
      close(res.points[0][1], NOSE_XY[1] * res.height);
    });
    for (const n of ["gray.png", "rgba.png", "odd.jpg"]) {
      const svg = await Deno.readTextFile(join(dir, `${n}.keypoints.svg`));
      assert.match(svg, /^<svg /);
      assert.match(svg, /data:image\/png;base64,/);
      assert.equal(svg.match(POINT)?.length, 1);
    }
    assert.equal(await Deno.stat(join(dir, "broken.png.keypoints.svg")).catch(() => null), null);

    // CSV, --out, absolute paths, only good files: exit 0.
    const out = join(dir, "svgs");
    const c = await predict(dir, "--model", run, "--csv", "--out", out, paths[0], paths[2]);
    assert.equal(c.code, 0, c.err);
    const lines = c.out.trimEnd().split("\n");
    assert.equal(lines[0], "image,point,x,y");
    assert.equal(lines.length, 3);
    const [img, point, x, y] = lines[2].split(",");
    assert.equal(img, paths[2]);
    assert.equal(point, "0");
    close(Number(x), 0.25 * 101);
    close(Number(y), 0.75 * 77);
    assert.ok((await Deno.stat(join(out, "odd.jpg.keypoints.svg"))).size > 0);

    // The nose model takes the whole image: a box is a usage error.
    const b = await predict(dir, "--model", run, "--box", "1,2,3,4", names[0]);
    assert.equal(b.code, 2);
    assert.match(b.err, /--box and --labels apply to ResNet-18/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("predict: ResNet-18 with --box and --labels maps crop outputs to original pixels", async () => {
  await initRuntime();
  const dir = await Deno.makeTempDir({ prefix: "facekit_predict_resnet_" });
  try {
    const run = join(dir, "run");
    await resnetRun(run);
    const [gray, rgba, jpg] = await writeImages(dir);
    const box = { left: 12, top: -3, width: 50, height: 44 };
    const expected = (b: typeof box) =>
      pointsToOriginal(faceCropMatrix(b, RESNET.inputSize), RESNET_REL.map((v) => v * 64));
    const check = (res: Result, b: typeof box) => {
      assert.equal(res.points.length, 68);
      assert.deepEqual(res.box, b);
      const want = expected(b);
      res.points.forEach(([x, y], k) => {
        close(x, want[2 * k]);
        close(y, want[2 * k + 1]);
      });
    };
    const r = await predict(dir, "--model", run, "--box", "12,-3,50,44", jpg, rgba);
    assert.equal(r.code, 0, r.err);
    const results: Result[] = JSON.parse(r.out);
    assert.equal(results.length, 2);
    for (const res of results) check(res, box);
    const svg = await Deno.readTextFile(join(dir, "odd.jpg.keypoints.svg"));
    assert.equal(svg.match(POINT)?.length, 68);

    // dlib XML: matched by path for one image, by file name for the other; two boxes on one.
    const b2 = { left: 100, top: 50, width: 60, height: 70 };
    await Deno.writeTextFile(
      join(dir, "boxes.xml"),
      `<dataset><images>
  <image file='${gray}'><box top='-3' left='12' width='50' height='44'/></image>
  <image file='elsewhere/rgba.png'>
    <box top='-3' left='12' width='50' height='44'/><box top='50' left='100' width='60' height='70'/>
  </image>
</images></dataset>\n`,
    );
    const l = await predict(dir, "--model", run, "--labels", "boxes.xml", gray, rgba, jpg);
    assert.equal(l.code, 1);
    assert.match(l.err, /odd\.jpg: no face box in boxes\.xml/);
    const lr: Result[] = JSON.parse(l.out);
    assert.deepEqual(lr.map((x) => x.image), [gray, rgba, rgba]);
    check(lr[0], box);
    check(lr[1], box);
    check(lr[2], b2);

    // A box entirely outside an image: that image is named and skipped (exit 1), others still
    // run. odd.jpg is 101×77, rgba.png 200×150; a box partly outside (above) stays valid.
    const far = await predict(dir, "--model", run, "--box", "150,-3,30,30", jpg, rgba);
    assert.equal(far.code, 1, far.err);
    assert.match(
      far.err,
      /odd\.jpg: --box: box \(left=150, top=-3, width=30, height=30\) lies entirely outside the 101×77 image/,
    );
    assert.deepEqual((JSON.parse(far.out) as Result[]).map((x) => x.image), [rgba]);
    await Deno.writeTextFile(
      join(dir, "far.xml"),
      `<dataset><images><image file='${jpg}'>
  <box top='-3' left='12' width='50' height='44'/><box top='-100' left='0' width='20' height='20'/>
</image></images></dataset>\n`,
    );
    const farL = await predict(dir, "--model", run, "--labels", "far.xml", jpg);
    assert.equal(farL.code, 1, farL.err);
    assert.match(
      farL.err,
      /odd\.jpg: box #1 for it in far\.xml: box \(left=0, top=-100, .*entirely outside/,
    );

    // Usage errors: exit 2 with a message naming the flag.
    for (const bad of ["1,2,3", "a,b,c,d", "1,2,0,4", "1,2,-5,4", "1,,3,4"]) {
      const e = await predict(dir, "--model", run, "--box", bad, jpg);
      assert.equal(e.code, 2, `--box ${bad}`);
      assert.match(e.err, /--box must be x,y,w,h/);
    }
    const nobox = await predict(dir, "--model", run, jpg);
    assert.equal(nobox.code, 2);
    assert.match(nobox.err, /needs --box/);
    const both = await predict(dir, "--model", run, "--box", "1,2,3,4", "--labels", "x", jpg);
    assert.equal(both.code, 2);
    const unknown = await predict(dir, "--model", run, "--frobnicate", jpg);
    assert.equal(unknown.code, 2);
    const noImages = await predict(dir, "--model", run);
    assert.equal(noImages.code, 2);
    assert.match(noImages.err, /usage: deno task predict/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("predict: missing model files give clear errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "facekit_predict_missing_" });
  try {
    const img = join(dir, "a.png");
    await Deno.writeFile(img, rampPng(8, 8));
    // A --model that does not name a folder is a bad flag (exit 2), as in predict:ibug.
    let r = await predict(dir, "--model", join(dir, "nope"), img);
    assert.equal(r.code, 2);
    assert.match(r.err, /nope: run folder not found/);
    r = await predict(dir, "--model", img, img);
    assert.equal(r.code, 2);
    assert.match(r.err, /a\.png: is a file; give the run folder/);
    r = await predict(dir, "--model", join(dir, "nope"), "--out", img, img);
    assert.equal(r.code, 2);
    assert.match(r.err, /--out .*a\.png: is a file; give the folder/);
    await Deno.mkdir(join(dir, "run"));
    await Deno.writeTextFile(
      join(dir, "run", "config.json"),
      JSON.stringify({ task: "nose", architecture: NOSENET }),
    );
    r = await predict(dir, "--model", "run", img);
    assert.equal(r.code, 1);
    assert.match(r.err, /model\.safetensors: missing/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

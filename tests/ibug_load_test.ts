import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cropFacesToBytes,
  faceCropMatrix,
  pointsToCrop,
  pointsToOriginal,
} from "../data/face_crop.ts";
import { decodeImage } from "../data/image.ts";
import { faceImage, type IbugDataset, loadIbugDataset, splitTrainVal } from "../data/ibug.ts";
import { fakeIbug, fakeXml, gridParts, hasIbug, IBUG_DIR } from "./ibug_fake.ts";

async function withTemp(fn: (dir: string, cache: string) => Promise<void>) {
  const dir = await fakeIbug();
  try {
    await fn(dir, join(dir, "cache"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ibug load: fake set crops, points, order; workers and inline agree", async () => {
  await withTemp(async (dir, cache) => {
    const xml = join(dir, "train.xml");
    const a = await loadIbugDataset(xml, { size: 32, workers: 2, cacheDir: null });
    const b = await loadIbugDataset(xml, { size: 32, workers: 0, cacheDir: null });
    assert.deepEqual(a.faces.map((f) => f.file), ["a.png", "b.jpg", "sub/c.png", "sub/c.png"]);
    assert.deepEqual(a.faces.map((f) => f.index), [0, 1, 2, 3]);
    assert.deepEqual(a.faces.map((f) => f.originalSize), [[80, 60], [64, 64], [120, 90], [
      120,
      90,
    ]]);
    assert.equal(a.skipped.length, 0);
    assert.equal(a.stats.cacheFile, null);
    for (let i = 0; i < 4; i++) assert.deepEqual(a.faces[i].pixels, b.faces[i].pixels);
    // Same bytes as cropping the decoded image directly; points = pointsToCrop(matrix, parts).
    const c = await decodeImage(await Deno.readFile(join(dir, "sub/c.png")), "c");
    const want = cropFacesToBytes(c, [a.faces[2].box, a.faces[3].box], 32);
    assert.deepEqual(a.faces[3].pixels, want.subarray(1024));
    for (const f of a.faces) {
      assert.deepEqual(f.matrix, faceCropMatrix(f.box, 32));
      assert.deepEqual(f.points, pointsToCrop(f.matrix, new Float32Array(gridParts(f.box))));
      const img = f.image;
      assert.equal(img.width, 32);
      assert.ok(Math.abs(img.data[100] - f.pixels[100] / 255) < 1e-7);
      assert.deepEqual(faceImage(f), img);
    }
    // b.jpg's box starts 8 px above the image: the crop's top rows are zero padding.
    assert.ok(a.faces[1].pixels.subarray(0, 32).every((v) => v === 0));
    // Test list: boxes only.
    const t = await loadIbugDataset(join(dir, "test.xml"), { size: 16, cacheDir: cache });
    assert.equal(t.faces.length, 4);
    assert.ok(t.faces.every((f) => f.points === null && f.box.parts === null));
    // limit, progress
    const progress: [number, number][] = [];
    const l = await loadIbugDataset(xml, {
      size: 16,
      limit: 2,
      cacheDir: null,
      onProgress: (d, n) => progress.push([d, n]),
    });
    assert.deepEqual(l.faces.map((f) => f.file), ["a.png", "b.jpg"]);
    assert.deepEqual(progress.at(-1), [2, 2]);
    assert.deepEqual(progress[0], [0, 2]);
  });
});

Deno.test("ibug load: disk cache is reused, invalidated by touching an image", async () => {
  await withTemp(async (dir, cache) => {
    const xml = join(dir, "train.xml");
    const load = () => loadIbugDataset(xml, { size: 48, workers: 2, cacheDir: cache });
    const cold = await load();
    assert.deepEqual([cold.stats.fromCache, cold.stats.decoded], [0, 4]);
    assert.ok(cold.stats.cacheFile!.startsWith(cache));
    const warm = await load();
    assert.deepEqual([warm.stats.fromCache, warm.stats.decoded], [4, 0]);
    console.log(`  cold ${cold.stats.ms.toFixed(1)} ms, warm ${warm.stats.ms.toFixed(1)} ms`);
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(warm.faces[i].pixels, cold.faces[i].pixels);
      assert.deepEqual(warm.faces[i].points, cold.faces[i].points);
      assert.deepEqual(warm.faces[i].originalSize, cold.faces[i].originalSize);
    }
    // Touch sub/c.png (new mtime): its two faces are re-cropped, the others still cached.
    await Deno.utime(join(dir, "sub/c.png"), new Date(), new Date(Date.now() + 5000));
    const touched = await load();
    assert.deepEqual([touched.stats.fromCache, touched.stats.decoded], [2, 2]);
    assert.deepEqual((await load()).stats.decoded, 0);
    // Replace an image's content (size changes): re-cropped, and the new pixels are served.
    const before = touched.faces[0].pixels.slice();
    const { writeImage } = await import("./ibug_fake.ts");
    await writeImage(join(dir, "a.png"), 80, 60, 120);
    const changed = await load();
    assert.deepEqual([changed.stats.fromCache, changed.stats.decoded], [3, 1]);
    assert.notDeepEqual(changed.faces[0].pixels, before);
    // Another size gets its own cache file; a limited load reuses the full cache.
    const small = await loadIbugDataset(xml, { size: 24, cacheDir: cache });
    assert.notEqual(small.stats.cacheFile, cold.stats.cacheFile);
    const lim = await loadIbugDataset(xml, { size: 48, limit: 3, cacheDir: cache });
    assert.deepEqual([lim.stats.fromCache, lim.stats.decoded], [3, 0]);
    // A corrupt cache file is ignored and rewritten.
    await Deno.writeFile(cold.stats.cacheFile!, new Uint8Array([1, 2, 3]));
    assert.equal((await load()).stats.decoded, 4);
    assert.equal((await load()).stats.fromCache, 4);
  });
});

Deno.test("ibug load: corrupt or missing images and bad annotations name the file", async () => {
  await withTemp(async (dir, cache) => {
    const xml = join(dir, "train.xml");
    await Deno.writeFile(join(dir, "b.jpg"), new TextEncoder().encode("not a jpeg at all"));
    for (const workers of [0, 2]) {
      await assert.rejects(
        loadIbugDataset(xml, { size: 16, workers, cacheDir: cache }),
        (e: Error) => e.message.includes(join(dir, "b.jpg")),
      );
      const ds = await loadIbugDataset(xml, { size: 16, workers, cacheDir: cache, skipBad: true });
      assert.deepEqual(ds.faces.map((f) => f.file), ["a.png", "sub/c.png", "sub/c.png"]);
      assert.deepEqual(ds.skipped.map((s) => s.file), ["b.jpg"]);
      assert.match(ds.skipped[0].reason, /b\.jpg/);
    }
    // Missing image.
    await Deno.remove(join(dir, "a.png"));
    await assert.rejects(loadIbugDataset(xml, { size: 16, cacheDir: cache }), /a\.png/);
    const ds = await loadIbugDataset(xml, { size: 16, cacheDir: cache, skipBad: true });
    assert.deepEqual(ds.skipped.map((s) => s.file), ["a.png", "b.jpg"]);
    assert.equal(ds.faces.length, 2);
    // A box with a part missing: error naming the element; skipped with skipBad.
    const text = (await Deno.readTextFile(xml)).replace(/<part name='33'[^>]*>/, "");
    await Deno.writeTextFile(join(dir, "partial.xml"), text);
    await assert.rejects(
      loadIbugDataset(join(dir, "partial.xml"), { size: 16, cacheDir: cache }),
      /partial\.xml:\d+: image #0 \(file 'a\.png'\) box #0: has 67 of 68 parts/,
    );
    const p = await loadIbugDataset(join(dir, "partial.xml"), {
      size: 16,
      cacheDir: cache,
      skipBad: true,
    });
    assert.deepEqual(p.skipped.map((s) => s.file), ["a.png", "b.jpg"]);
    assert.deepEqual(p.faces.map((f) => f.index), [2, 3]);
    // Unreadable XML.
    await assert.rejects(
      loadIbugDataset(join(dir, "nope.xml"), { size: 16 }),
      /nope\.xml: cannot read/,
    );
    // The XML's own syntax errors are never skipped.
    await Deno.writeTextFile(join(dir, "broken.xml"), fakeXml([]).replace("</images>", ""));
    await assert.rejects(
      loadIbugDataset(join(dir, "broken.xml"), { size: 16, skipBad: true }),
      /broken\.xml/,
    );
  });
});

Deno.test("ibug load: a box entirely outside its image or degenerate names XML, image and box", async () => {
  await withTemp(async (dir, cache) => {
    const train = await Deno.readTextFile(join(dir, "train.xml"));
    // sub/c.png (120×90) box #1 moved right of the image; its box #0 stays valid.
    const outside = train.replace("left='60'", "left='500'");
    assert.notEqual(outside, train);
    await Deno.writeTextFile(join(dir, "outside.xml"), outside);
    const xml = join(dir, "outside.xml");
    const want = new RegExp(
      "outside\\.xml:\\d+: image #2 \\(file 'sub/c\\.png'\\) box #1: box \\(left=500, top=30, " +
        "width=44, height=48\\) lies entirely outside the 120×90 image \\(.*c\\.png\\)",
    );
    for (const workers of [0, 2]) {
      await assert.rejects(loadIbugDataset(xml, { size: 16, workers, cacheDir: cache }), want);
      const ds = await loadIbugDataset(xml, { size: 16, workers, cacheDir: cache, skipBad: true });
      assert.deepEqual(ds.faces.map((f) => [f.file, f.index]), [
        ["a.png", 0],
        ["b.jpg", 1],
        ["sub/c.png", 2],
      ]);
      assert.deepEqual(ds.skipped.map((s) => s.file), ["sub/c.png"]);
      assert.match(ds.skipped[0].reason, want);
    }
    // b.jpg's box (partly above the image) is still fine; a degenerate box is caught when the
    // XML is parsed, and skipped like other bad annotations.
    await Deno.writeTextFile(
      join(dir, "flat.xml"),
      train.replace(
        "top='-8' left='30' width='40' height='40'",
        "top='-8' left='30' width='40' height='0'",
      ),
    );
    await assert.rejects(
      loadIbugDataset(join(dir, "flat.xml"), { size: 16, cacheDir: null }),
      /flat\.xml:\d+: image #1 \(file 'b\.jpg'\) box #0: non-positive size 40×0/,
    );
    const flat = await loadIbugDataset(join(dir, "flat.xml"), {
      size: 16,
      cacheDir: null,
      skipBad: true,
    });
    assert.deepEqual(flat.faces.map((f) => f.index), [0, 2, 3]);
    assert.deepEqual(flat.skipped.map((s) => s.file), ["b.jpg"]);

    // A crop cached before this check existed is re-checked against its cached image size: fake
    // one by shrinking the recorded width of sub/c.png's second face (left=60) to 50 px.
    const good = join(dir, "train.xml");
    const first = await loadIbugDataset(good, { size: 16, cacheDir: cache });
    const file = first.stats.cacheFile!;
    const buf = await Deno.readFile(file);
    const len = new DataView(buf.buffer).getUint32(8, true);
    const header = JSON.parse(new TextDecoder().decode(buf.subarray(12, 12 + len)));
    const e = header.entries.find((x: [string, number, number]) => x[0].includes("|30,60,44,48|"));
    e[1] = 50;
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(12 + json.length + buf.length - 12 - len);
    out.set(buf.subarray(0, 8));
    new DataView(out.buffer).setUint32(8, json.length, true);
    out.set(json, 12);
    out.set(buf.subarray(12 + len), 12 + json.length);
    await Deno.writeFile(file, out);
    await assert.rejects(
      loadIbugDataset(good, { size: 16, cacheDir: cache }),
      /image #2 \(file 'sub\/c\.png'\) box #1: .*entirely outside the 50×90 image/,
    );
    const stale = await loadIbugDataset(good, { size: 16, cacheDir: cache, skipBad: true });
    assert.deepEqual([stale.stats.fromCache, stale.stats.decoded], [3, 0]);
    assert.deepEqual(stale.skipped.map((s) => s.file), ["sub/c.png"]);
  });
});

Deno.test("ibug: splitTrainVal takes the last 10 % as validation", () => {
  const xs = Array.from({ length: 2012 }, (_, i) => i);
  const { train, val } = splitTrainVal(xs);
  assert.equal(train.length, 1811);
  assert.equal(val.length, 201);
  assert.equal(val[0], 1811);
  assert.equal(val.at(-1), 2011);
  assert.deepEqual(splitTrainVal([1, 2, 3, 4], 0.5), { train: [1, 2], val: [3, 4] });
  assert.throws(() => splitTrainVal(xs, 1.5), /valFraction/);
});

Deno.test({
  name: "ibug load: real 300-W subset (limited), warm cache, points inside the crops",
  ignore: !hasIbug,
  fn: async () => {
    const cache = await Deno.makeTempDir({ prefix: "facekit_ibug_cache_" });
    try {
      const xml = join(IBUG_DIR, "labels_300W_subset_train.xml");
      const opts = { size: 64, limit: 60, workers: 2, cacheDir: cache };
      const cold: IbugDataset = await loadIbugDataset(xml, opts);
      const warm = await loadIbugDataset(xml, opts);
      console.log(
        `  60 faces: cold ${cold.stats.ms.toFixed(0)} ms, warm ${warm.stats.ms.toFixed(0)} ms`,
      );
      assert.equal(cold.faces.length, 60);
      assert.equal(warm.stats.fromCache, 60);
      for (const f of warm.faces) {
        assert.equal(f.points!.length, 136);
        // Tight landmark box, 1.4× crop: every point well inside [0, 64).
        for (const v of f.points!) assert.ok(v > 4 && v < 60, `${f.file}: point at ${v}`);
        assert.ok(f.originalSize[0] > 0 && f.originalSize[1] > 0);
        // Back to the XML's coordinates exactly (what a CSV writer must do).
        const back = pointsToOriginal(f.matrix, f.points!);
        for (let i = 0; i < 136; i++) assert.ok(Math.abs(back[i] - f.box.parts![i]) < 1e-3);
      }
      // The crops are faces, not padding: mean intensity well above zero.
      const mean = warm.faces[0].pixels.reduce((s, v) => s + v, 0) / 64 / 64;
      assert.ok(mean > 20, `mean ${mean}`);
      const test = await loadIbugDataset(join(IBUG_DIR, "labels_300W_subset_test_boxes.xml"), {
        ...opts,
        limit: 10,
      });
      assert.equal(test.faces.length, 10);
      assert.ok(test.faces.every((f) => f.points === null));
    } finally {
      await Deno.remove(cache, { recursive: true });
    }
  },
});

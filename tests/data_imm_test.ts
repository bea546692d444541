import assert from "node:assert/strict";
import { join } from "node:path";
import { listImmPairs, loadImmDataset, toModelInput } from "../data/imm.ts";
import { fakeAsf, fakeImm } from "./fake_imm.ts";

const IMM_DIR = new URL("../../shared/data/imm_face_db", import.meta.url).pathname;
const hasImm = await Deno.stat(IMM_DIR).then(() => true, () => false);

Deno.test("imm: tiny fake data set loads and splits by person", async () => {
  const dir = await fakeImm(["01-1m", "01-2m", "35-1f", "35-2f"]);
  try {
    for (const workers of [0, 2]) {
      const width = 32 + workers; // distinct size per run: bypasses the cache
      const ds = await loadImmDataset(dir, { width, height: 24, workers });
      assert.deepEqual(ds.train.map((s) => s.name), ["01-1m", "01-2m"]);
      assert.deepEqual(ds.val.map((s) => s.name), ["35-1f", "35-2f"]);
      assert.deepEqual(ds.val.map((s) => s.person), [35, 35]);
      const levels = [40, 90, 140, 190];
      [...ds.train, ...ds.val].forEach((s, k) => {
        assert.equal(s.image.width, width);
        assert.equal(s.image.height, 24);
        assert.equal(s.image.data.length, width * 24);
        assert.ok(Math.abs(s.image.data[100] - levels[k] / 255) < 0.02, `${s.name}`);
        assert.equal(s.points.length, 116);
        assert.ok(Math.abs(s.points[0] - (0.2 + k * 0.001)) < 1e-6);
        assert.ok(Math.abs(s.points[115] - (0.2 + 7 * 0.08)) < 1e-6);
      });
    }
    // Cached: the second call gives the very same objects.
    const a = await loadImmDataset(dir, { width: 32, height: 24 });
    const b = await loadImmDataset(dir, { width: 32, height: 24 });
    assert.equal(a, b);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("imm: upper-case extensions and a folder of symbolic links load", async () => {
  const dir = await fakeImm(["01-1m", "35-1f"]);
  const links = await Deno.makeTempDir();
  try {
    await Deno.rename(join(dir, "01-1m.jpg"), join(dir, "01-1m.JPG"));
    await Deno.rename(join(dir, "35-1f.asf"), join(dir, "35-1f.ASF"));
    for await (const e of Deno.readDir(dir)) {
      await Deno.symlink(join(dir, e.name), join(links, e.name));
    }
    for (const d of [dir, links]) {
      const ds = await loadImmDataset(d, { width: 16, height: 12, workers: 0 });
      assert.deepEqual([...ds.train, ...ds.val].map((x) => x.name), ["01-1m", "35-1f"], d);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(links, { recursive: true });
  }
});

Deno.test("imm: clear errors for missing partners, no data, bad annotations", async () => {
  const dir = await fakeImm(["02-1m", "02-2m"]);
  const empty = await Deno.makeTempDir();
  try {
    await Deno.remove(join(dir, "02-2m.asf"));
    assert.deepEqual(await listImmPairs(dir), {
      pairs: ["02-1m"],
      unpaired: ["02-2m.jpg"],
      files: new Map([["02-1m", { jpg: "02-1m.jpg", asf: "02-1m.asf" }]]),
    });
    await assert.rejects(loadImmDataset(dir, { width: 8, height: 6 }), (e: Error) => {
      assert.ok(e.message.includes(dir) && e.message.includes("02-2m.jpg"), e.message);
      return true;
    });
    await Deno.remove(join(dir, "02-2m.jpg"));
    await Deno.writeTextFile(join(dir, "02-1m.asf"), fakeAsf("02-1m", 0).replace("58", "57"));
    await assert.rejects(loadImmDataset(dir, { width: 8, height: 6 }), /02-1m\.asf/);
    await assert.rejects(loadImmDataset(empty, { width: 8, height: 6 }), (e: Error) => {
      assert.ok(e.message.includes(empty) && e.message.includes("no image/annotation pairs"));
      return true;
    });
    await assert.rejects(loadImmDataset(join(empty, "nope"), { width: 8, height: 6 }), /nope/);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("imm: all 40 people present but a view missing fails the 192/48 check", async () => {
  const names: string[] = [];
  for (let p = 1; p <= 40; p++) {
    for (let v = 1; v <= 6; v++) names.push(`${String(p).padStart(2, "0")}-${v}m`);
  }
  const dir = await fakeImm(names.slice(1)); // 239 pairs
  try {
    await assert.rejects(loadImmDataset(dir, { width: 8, height: 6 }), /191\/48, expected 192\/48/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("imm: toModelInput maps 0..1 to -0.5..0.5", () => {
  const img = { width: 2, height: 2, data: new Float32Array([0, 0.25, 0.5, 1]) };
  assert.deepEqual(Array.from(toModelInput(img)), [-0.5, -0.25, 0, 0.5]);
  const out = new Float32Array(4);
  assert.equal(toModelInput(img, out), out);
  assert.throws(() => toModelInput(img, new Float32Array(3)));
});

Deno.test({
  name: "imm: real data set gives 192/48 at 160×120 with points in [0, 1]",
  ignore: !hasImm,
  fn: async () => {
    const t0 = performance.now();
    const ds = await loadImmDataset(IMM_DIR, { width: 160, height: 120 });
    const ms = performance.now() - t0;
    console.log(`  loaded 240 IMM images at 160×120 in ${ms.toFixed(0)} ms`);
    assert.equal(ds.train.length, 192);
    assert.equal(ds.val.length, 48);
    assert.ok(ds.train.every((s) => s.person >= 1 && s.person <= 32));
    assert.ok(ds.val.every((s) => s.person >= 33 && s.person <= 40));
    for (const s of [...ds.train, ...ds.val]) {
      assert.equal(s.image.width, 160);
      assert.equal(s.image.height, 120);
      assert.equal(s.points.length, 116);
      for (const v of s.points) assert.ok(v >= 0 && v <= 1);
      for (const v of s.image.data) assert.ok(v >= 0 && v <= 1);
    }
    const t1 = performance.now();
    assert.equal(await loadImmDataset(IMM_DIR, { width: 160, height: 120 }), ds);
    assert.ok(performance.now() - t1 < 50, "second load should hit the cache");
  },
});

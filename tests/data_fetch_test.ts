import assert from "node:assert/strict";
import { join } from "node:path";
// deno-lint-ignore no-import-prefix
import { zipSync } from "npm:fflate@0.8.3";
import { IMM_HOME_PAGE, resolveImmDir } from "../data/fetch_imm.ts";
import { listImmPairs } from "../data/imm.ts";

/** Base names of all 240 IMM pairs: 40 people × 6 views. */
const NAMES = Array.from(
  { length: 240 },
  (_, i) => `${String(Math.floor(i / 6) + 1).padStart(2, "0")}-${(i % 6) + 1}m`,
);

/** IMM-like zip with tiny fake files, nested in `prefix` like real archives often are. */
function fakeZip(prefix: string, names = NAMES): Uint8Array<ArrayBuffer> {
  const files: Record<string, Uint8Array> = {};
  const enc = new TextEncoder();
  for (const n of names) {
    files[`${prefix}${n}.jpg`] = enc.encode(`jpeg ${n}`);
    files[`${prefix}${n}.asf`] = enc.encode(`58\n${n}.jpg\n`);
  }
  files[`${prefix}README.txt`] = enc.encode("fake IMM");
  return new Uint8Array(zipSync(files, { level: 1 }));
}

/** Serves `handler` on 127.0.0.1 (random port) while `fn` runs. */
async function withServer(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (url: string) => Promise<void>,
) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}/imm_face_db.zip`);
  } finally {
    await server.shutdown();
  }
}

async function writeFakePairs(dir: string, names: string[]) {
  await Deno.mkdir(dir, { recursive: true });
  for (const n of names) {
    await Deno.writeTextFile(join(dir, `${n}.jpg`), "x");
    await Deno.writeTextFile(join(dir, `${n}.asf`), "x");
  }
}

/** Asserts `p` rejects with an Error whose message contains every one of `texts`. */
async function rejectsWith(p: Promise<unknown>, ...texts: string[]) {
  await assert.rejects(p, (e: Error) => {
    for (const t of texts) assert.ok(e.message.includes(t), `"${t}" not in: ${e.message}`);
    return true;
  });
}

Deno.test("fetch: downloads, unzips and finds the nested IMM folder", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "facekit_fetch_" });
  const zip = fakeZip("imm_face_db/");
  let requests = 0;
  try {
    await withServer(() => {
      requests++;
      return new Response(zip, { headers: { "content-length": String(zip.length) } });
    }, async (url) => {
      const datasetsDir = join(tmp, "datasets");
      const dir = await resolveImmDir({ url, datasetsDir, env: "" });
      assert.equal(dir, join(datasetsDir, "imm_face_db", "imm_face_db"));
      assert.equal((await listImmPairs(dir)).pairs.length, 240);
      assert.equal(requests, 1);
      // The zip is cleaned up; a second call finds the data without downloading.
      const left = [...Deno.readDirSync(datasetsDir)].map((e) => e.name);
      assert.deepEqual(left, ["imm_face_db"]);
      assert.equal(await resolveImmDir({ url, datasetsDir, env: "" }), dir);
      assert.equal(requests, 1);
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("fetch: --data wins over FACEKIT_DATA, which wins over the default", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "facekit_fetch_" });
  try {
    const a = join(tmp, "a"), b = join(tmp, "b");
    await writeFakePairs(a, NAMES);
    await writeFakePairs(b, NAMES);
    const url = "http://127.0.0.1:1/never.zip";
    assert.equal(await resolveImmDir({ data: a, env: b, url, datasetsDir: tmp }), a);
    assert.equal(await resolveImmDir({ env: b, url, datasetsDir: tmp }), b);
    await rejectsWith(
      resolveImmDir({ env: "", url, datasetsDir: join(tmp, "none") }),
      join(tmp, "none", "imm_face_db"),
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("fetch: an incomplete copy is reported, not silently used", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "facekit_fetch_" });
  try {
    await writeFakePairs(tmp, NAMES.slice(0, 10));
    await rejectsWith(resolveImmDir({ data: tmp, url: "http://127.0.0.1:1/x.zip" }), tmp, "10 ");
    await rejectsWith(
      resolveImmDir({ data: tmp, url: "http://127.0.0.1:1/x.zip" }),
      "expected 240 pairs",
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("fetch: unreachable URL gives a helpful error", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "facekit_fetch_" });
  try {
    const url = "http://127.0.0.1:1/x.zip";
    await rejectsWith(
      resolveImmDir({ url, datasetsDir: tmp, env: "" }),
      url,
      IMM_HOME_PAGE,
      "Stegmann",
      "FAME",
      "22(10):1319–1331, 2003",
      "education and research",
      "--data DIR",
      "FACEKIT_DATA",
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("fetch: HTTP errors and stalled servers fail fast with the same help", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "facekit_fetch_" });
  try {
    await withServer(() => new Response("nope", { status: 404 }), async (url) => {
      await rejectsWith(resolveImmDir({ url, datasetsDir: tmp, env: "" }), "404", "--data DIR");
    });
    await withServer(() => new Response("<html>moved</html>"), async (url) => {
      await rejectsWith(resolveImmDir({ url, datasetsDir: tmp, env: "" }), "not a valid zip");
      assert.deepEqual([...Deno.readDirSync(tmp)], []); // no zip or partial files left
    });
    let release = () => {};
    const stalled = new Promise<void>((r) => release = r);
    await withServer(async () => {
      await stalled;
      return new Response("late");
    }, async (url) => {
      const t0 = performance.now();
      await rejectsWith(
        resolveImmDir({ url, datasetsDir: tmp, env: "", timeoutMs: 300 }),
        "timed out",
        IMM_HOME_PAGE,
      );
      assert.ok(performance.now() - t0 < 5000);
      release();
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("fetch: a non-empty folder without IMM pairs is never downloaded into", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "facekit_fetch_" });
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    return new Response(fakeZip(""));
  });
  try {
    await Deno.writeTextFile(join(tmp, "notes.txt"), "not a data set");
    const url = `http://127.0.0.1:${server.addr.port}/imm_face_db.zip`;
    await rejectsWith(resolveImmDir({ data: tmp, url, env: "" }), tmp, "not empty");
    assert.equal(requests, 0);
    assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name), ["notes.txt"]);
  } finally {
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

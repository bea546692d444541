// The library works when imported by URL, the way another project would use it: the repository
// is served over HTTP on 127.0.0.1, and a script in an empty folder (no deno.json, no import
// map, no lock file) imports `mod.ts` from there, trains a small CNN built from the exported
// layers, and plots the losses. WGSL shaders (text imports) then come over HTTP too, and npm
// packages must resolve from their full `npm:` specifiers alone. The README's "Use the library"
// example runs the same way.
import assert from "node:assert/strict";
import { extname, join, normalize } from "node:path";

const ROOT = new URL("../", import.meta.url).pathname;
const TYPES: Record<string, string> = {
  ".ts": "application/typescript; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".wgsl": "text/plain; charset=utf-8",
  ".json": "application/json",
};

/** The user's script: `LIB` is replaced by the served mod.ts URL. */
const SCRIPT = `
import {
  Adam, Conv2d, Flatten, initRuntime, Linear, lossCurveSvg, MaxPool2d, mseLoss, Rng, Sequential,
  Tensor, tidy,
} from "LIB";

await initRuntime();
// 32 gray 12×12 images, each with a bright 3×3 square; the target is the square's centre (0..1).
const n = 32, s = 12, rng = new Rng(7);
const x = new Float32Array(n * s * s).fill(-0.5), y = new Float32Array(n * 2);
for (let i = 0; i < n; i++) {
  const cx = 1 + Math.floor(rng.next() * (s - 3)), cy = 1 + Math.floor(rng.next() * (s - 3));
  for (let dy = 0; dy < 3; dy++) {
    for (let dx = 0; dx < 3; dx++) x[i * s * s + (cy + dy) * s + cx + dx] = 0.5;
  }
  y[2 * i] = (cx + 1.5) / s;
  y[2 * i + 1] = (cy + 1.5) / s;
}
const model = new Sequential(
  new Conv2d(1, 8, 3, { relu: true }), // 12 → 10
  new MaxPool2d(2), // → 5
  new Conv2d(8, 16, 3, { relu: true }), // → 3
  new Flatten(), // 16·3·3 = 144
  new Linear(144, 32, { relu: true }),
  new Linear(32, 2),
);
const opt = new Adam(model.parameters(), { lr: 3e-3 });
const xt = Tensor.from(x, [n, 1, s, s]), yt = Tensor.from(y, [n, 2]);
const losses = [];
for (let step = 0; step < 20; step++) {
  const loss = tidy(() => {
    const l = mseLoss(model.forward(xt), yt);
    l.backward();
    return l;
  });
  opt.step();
  losses.push((await loss.read())[0]);
  loss.dispose();
}
const svg = lossCurveSvg([{ name: "train", values: losses }]); // d3, an npm package
console.log(JSON.stringify({ first: losses[0], last: losses.at(-1), svg: svg.startsWith("<svg") }));
`;

/** The first TypeScript block of the README's "Use the library" section (its example). */
async function readmeExample(): Promise<string> {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const section = readme.split(/^## /m).find((s) => s.startsWith("Use the library"));
  const code = section?.match(/```ts\n([\s\S]*?)```/)?.[1];
  if (!code) throw new Error('README.md: no ```ts example in "## Use the library"');
  return code;
}

/** Serves the repository read-only on 127.0.0.1 with a random port; records requested paths. */
function serveRepo(requested: Set<string>): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      const rel = normalize(path).replace(/^\/+/, "");
      if (rel.startsWith("..") || rel.split("/").some((p) => p.startsWith("."))) {
        return new Response("forbidden", { status: 403 });
      }
      try {
        const body = await Deno.readFile(join(ROOT, rel));
        requested.add(`/${rel}`);
        const type = TYPES[extname(rel)] ?? "application/octet-stream";
        return new Response(body, { headers: { "content-type": type } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
}

/** Runs `script` as train.ts in `dir` (no deno.json) against the server; returns stdout. */
async function runScript(dir: string, port: number, script: string): Promise<string> {
  const origin = `http://127.0.0.1:${port}`;
  await Deno.writeTextFile(join(dir, "train.ts"), script);
  const p = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config", // no deno.json: no import map, no lock file, no tasks
      "--no-lock",
      `--reload=${origin}`, // never a stale copy from an earlier run on the same port
      `--allow-import=127.0.0.1:${port}`,
      // No --allow-ffi: imagescript (a native codec) is only loaded when an image is decoded.
      "train.ts",
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(p.stderr);
  assert.equal(p.code, 0, `subprocess failed:\n${err}`);
  return new TextDecoder().decode(p.stdout);
}

Deno.test("url import: a custom CNN trains from mod.ts served over HTTP, without deno.json", async () => {
  const requested = new Set<string>();
  const server = serveRepo(requested);
  const dir = await Deno.makeTempDir({ prefix: "facekit_url_import_" });
  try {
    const { port } = server.addr;
    const lib = `http://127.0.0.1:${port}/mod.ts`;
    const out = await runScript(dir, port, SCRIPT.replace("LIB", lib));
    const r = JSON.parse(out.trim().split("\n").at(-1)!);
    assert.ok(Number.isFinite(r.first) && Number.isFinite(r.last), out);
    assert.ok(r.last < 0.5 * r.first, `loss did not fall: ${r.first} → ${r.last}`);
    assert.equal(r.svg, true);
    // Everything came over HTTP: the module graph, and the shaders as text imports.
    for (const f of ["/mod.ts", "/nn/ops/conv2d.ts", "/shaders/conv2d_forward.wgsl"]) {
      assert.ok(requested.has(f), `${f} was not fetched`);
    }
    // Nothing was written next to the script (a lock file would mean a config was used).
    const entries = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(entries, ["train.ts"]);

    // The README's example, as written there, with its placeholder host replaced.
    const example = await readmeExample();
    assert.match(example, /"https:\/\/<host>\/<path>\/mod\.ts"/);
    const lines = (await runScript(dir, port, example.replace("https://<host>/<path>/mod.ts", lib)))
      .trim().split("\n").map((l) => l.split(" ").map(Number));
    assert.equal(lines.length, 20, "the example prints one line per step");
    const [first, last] = [lines[0][1], lines[19][1]];
    assert.ok(last < first, `README example: loss did not fall: ${first} → ${last}`);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

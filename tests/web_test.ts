// The browser demo (web/, `deno task web`): the bundle inlines every WGSL shader of its module
// graph and holds no Deno-only code; and, in headless Chromium with WebGPU (SwiftShader) when
// /usr/bin/chromium is installed and gives an adapter, the page loads a run folder (by URL and by
// the file pickers), decodes a PNG (uploaded, and dropped) with the browser's own codecs, runs the
// library's inference and draws the same keypoints as `predictKeypoints` in Deno (within 1 px);
// an undecodable file, a browser without navigator.gpu and one without an adapter get clear
// messages. Without Chromium, or when it cannot start or has no WebGPU adapter here, the browser
// test prints "SKIP web e2e: <why>" and passes.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
// deno-lint-ignore no-import-prefix
import { Image } from "npm:imagescript@1.3.1";
// deno-lint-ignore no-import-prefix
import { type BrowserContext, chromium, type Page } from "npm:playwright-core@1.65.2";
import { buildWeb, REPO_ROOT, serveWeb, WEB_DIR } from "../tasks/web.ts";
import { initRuntime } from "../nn/runtime.ts";
import { KeypointCnn, type KeypointCnnConfig, NOSENET } from "../nn/models/keypoint_cnn.ts";
import { saveModel } from "../nn/serialize.ts";
import { predictKeypoints } from "../nn/predict.ts";
import { decodeImage } from "../data/image.ts";
import { parseBox, parseRunConfig, rgbaToGray } from "../web/model.ts";
import type { FacekitResult } from "../web/app.ts";

/** Chromium binary (Debian's `chromium` package); FACEKIT_CHROMIUM overrides it. */
const CHROMIUM = Deno.env.get("FACEKIT_CHROMIUM") ?? "/usr/bin/chromium";
/** Flags that give headless Chromium a WebGPU adapter (SwiftShader) on a machine without GPU. */
const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--use-angle=swiftshader",
  "--use-webgpu-adapter=swiftshader",
  "--disable-gpu-sandbox",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** NoseNet's architecture with 5 points, so several points are checked. */
const ARCH: KeypointCnnConfig = { ...NOSENET, outputs: 10 };
/** fc2's bias: where the points sit (relative to the image size) before the input moves them. */
const BIAS = [0.3, 0.35, 0.7, 0.35, 0.5, 0.55, 0.35, 0.75, 0.65, 0.75];
const RUN = "nose-web-test";
const TIMEOUT_MS = 60_000;

/** The bundle, built once per test file into a temporary copy of web/. */
let built: Promise<{ webDir: string; code: string }> | null = null;
const tempDirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const d of tempDirs) {
    try {
      Deno.removeSync(d, { recursive: true });
    } catch { /* already gone */ }
  }
});

function buildOnce(): Promise<{ webDir: string; code: string }> {
  built ??= (async () => {
    const webDir = await Deno.makeTempDir({ prefix: "facekit_web_" });
    tempDirs.push(webDir);
    for (const f of ["index.html", "style.css"]) {
      await Deno.copyFile(join(WEB_DIR, f), join(webDir, f));
    }
    const out = join(webDir, "dist", "app.js");
    await buildWeb(out); // also fails on imagescript, node:/npm: imports or Deno APIs
    return { webDir, code: await Deno.readTextFile(out) };
  })();
  return built;
}

/** The WGSL files in web/app.ts's module graph (text imports), by `deno info`. */
async function shaderImports(): Promise<string[]> {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(WEB_DIR, "app.ts")],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(p.code, 0, new TextDecoder().decode(p.stderr));
  const info = JSON.parse(new TextDecoder().decode(p.stdout)) as {
    modules: { specifier: string }[];
  };
  return info.modules.map((m) => m.specifier).filter((s) => s.endsWith(".wgsl"))
    .map((s) => new URL(s).pathname);
}

/** The string literal (quotes included) esbuild emitted for the text import of `rel`, or null. */
function inlinedLiteral(code: string, rel: string): string | null {
  const at = code.indexOf(`// ${rel}\nvar `);
  if (at < 0) return null;
  const start = code.indexOf(" = ", at) + 3;
  const quote = code[start];
  if (!`"'\``.includes(quote)) return null;
  for (let i = start + 1; i < code.length; i++) {
    if (code[i] === "\\") i++;
    else if (code[i] === quote) return code.slice(start, i + 1);
    else if (quote === "`" && code[i] === "$" && code[i + 1] === "{") return null;
  }
  return null;
}

Deno.test("web: the bundle inlines every WGSL shader and no Deno-only code", async () => {
  const { code } = await buildOnce();
  const shaders = await shaderImports();
  assert.ok(shaders.length >= 10, `only ${shaders.length} shaders in the graph`);
  for (const path of shaders) {
    const rel = path.slice(REPO_ROOT.length);
    // esbuild writes `// shaders/x.wgsl` then `var x_default = <the source as a JS string>;`.
    const literal = inlinedLiteral(code, rel);
    assert.ok(literal, `${rel}: not inlined in the bundle`);
    const inlined = new Function(`return ${literal};`)() as string;
    assert.equal(inlined, await Deno.readTextFile(path), `${rel}: inlined text differs`);
  }
  assert.ok(!/imagescript|["'](node|npm):|\bDeno\.[a-z]/.test(code));
});

Deno.test("web: helpers (config, RGBA to gray, face box)", async () => {
  assert.equal(parseRunConfig({ task: "nose", architecture: NOSENET }, "c").kind, "KeypointCnn");
  assert.equal(parseRunConfig({ model: "ResNet18", architecture: {} }, "c").kind, "ResNet18");
  assert.throws(() => parseRunConfig({ model: "X", architecture: {} }, "run/c.json"), /c\.json/);
  assert.throws(() => parseRunConfig({ task: "nose" }, "c.json"), /architecture/);
  assert.deepEqual(parseBox("1, 2,30,40"), { left: 1, top: 2, width: 30, height: 40 });
  assert.equal(parseBox("  "), null);
  assert.throws(() => parseBox("1,2,0,4"), /left,top,width,height/);
  // Same luma, bit for bit, as decodeImage (imagescript) on the same pixels.
  const img = new Image(7, 3);
  for (let i = 0; i < img.bitmap.length; i++) img.bitmap[i] = (i * 37 + 11) % 256;
  const viaDeno = await decodeImage(await img.encode(), "x.png");
  const viaRgba = rgbaToGray(img.bitmap, 7, 3);
  assert.deepEqual(viaRgba, viaDeno);
});

/** A colour test photo: gradient background, a bright "face" disc, two dark "eyes". */
function testPhoto(w: number, h: number): Image {
  const img = new Image(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let r = 40 + (150 * x) / w, g = 60 + (120 * y) / h, b = 90;
      const dx = (x - 0.55 * w) / (0.22 * w), dy = (y - 0.5 * h) / (0.32 * h);
      if (dx * dx + dy * dy < 1) [r, g, b] = [235, 200, 170];
      for (const ex of [0.47, 0.63]) {
        if (Math.hypot(x - ex * w, y - 0.42 * h) < 0.025 * w) [r, g, b] = [20, 20, 30];
      }
      img.bitmap.set([r, g, b, 255], 4 * (y * w + x));
    }
  }
  return img;
}

/** Writes a run folder like train:nose's (config.json + model.safetensors) into `runsDir`. */
async function writeRun(runsDir: string, model: KeypointCnn): Promise<void> {
  const dir = join(runsDir, RUN);
  await Deno.mkdir(dir, { recursive: true });
  const config = {
    task: "nose",
    model: "KeypointCnn",
    architecture: ARCH,
    points: [51, 52, 53, 54, 55],
    input: "gray (0.299R+0.587G+0.114B), area-resized to width×height, pixels − 0.5",
    output: "x, y per point, relative to image width/height (0..1)",
  };
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  await saveModel(join(dir, "model.safetensors"), model, {
    format: "facekit",
    config: JSON.stringify(config),
  });
}

/** Asserts each point is within 1 px of Deno's; returns the largest distance. */
function assertClose(got: [number, number][], want: Float32Array, what: string): number {
  assert.equal(got.length * 2, want.length, `${what}: ${got.length} points`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.hypot(got[i][0] - want[2 * i], got[i][1] - want[2 * i + 1]);
    worst = Math.max(worst, d);
    assert.ok(
      d <= 1,
      `${what}: point ${i} at (${got[i]}) but Deno predicts (${want[2 * i]}, ${want[2 * i + 1]}): ${
        d.toFixed(3)
      } px apart`,
    );
  }
  return worst;
}

/** Waits for `<body data-KEY>` to be one of `values`; returns it. */
async function waitState(page: Page, key: string, values: string[]): Promise<string> {
  await page.waitForFunction(
    ([k, vs]) => (vs as string[]).includes(document.body.dataset[k as string] ?? ""),
    [key, values] as const,
    { timeout: TIMEOUT_MS },
  );
  return await page.evaluate((k) => document.body.dataset[k] ?? "", key);
}

/**
 * Gives the page a photo — `file` through the file input, or with `dropUrl` the file fetched
 * from there and dropped on the drop zone — and waits for its prediction (throws the page's error).
 */
async function predictInPage(
  page: Page,
  file: string,
  name: string,
  dropUrl?: string,
): Promise<FacekitResult> {
  const before = await page.evaluate(() => globalThis.__facekitResult?.runId ?? 0);
  if (dropUrl) {
    await page.evaluate(async ([url, n]) => {
      const blob = await (await fetch(url)).blob();
      const dt = new DataTransfer();
      dt.items.add(new File([blob], n, { type: blob.type }));
      const drop = new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true });
      document.getElementById("drop-zone")!.dispatchEvent(drop);
    }, [dropUrl, name]);
  } else {
    await page.setInputFiles("#image-file", file);
  }
  await page.waitForFunction(
    (n) => (globalThis.__facekitResult?.runId ?? 0) > n || document.body.dataset.state === "error",
    before,
    { timeout: TIMEOUT_MS },
  );
  const r = await page.evaluate(() => ({
    res: globalThis.__facekitResult,
    err: globalThis.__facekitError,
  }));
  assert.ok(r.res && r.res.runId > before, `page error: ${r.err}`);
  assert.equal(r.res.image, name);
  return r.res;
}

/** Asserts the canvas shows a marker (its fill colour) at every drawn point. */
async function assertMarkersDrawn(page: Page, res: FacekitResult): Promise<void> {
  const colors = await page.evaluate((pts) => {
    const c = document.getElementById("view") as HTMLCanvasElement;
    const ctx = c.getContext("2d")!;
    return pts.map(([x, y]) => [...ctx.getImageData(Math.floor(x), Math.floor(y), 1, 1).data]);
  }, res.canvasPoints);
  assert.equal(colors.length, res.points.length);
  for (const [r, g, b] of colors) {
    assert.ok(Math.abs(r - 255) + Math.abs(g - 45) + Math.abs(b - 85) < 12, `pixel ${[r, g, b]}`);
  }
}

Deno.test({
  name: "web: Chromium page predicts the same keypoints as predictKeypoints in Deno",
  ignore: !existsSync(CHROMIUM),
  sanitizeOps: false, // playwright keeps its pipe to the browser process alive between calls
  sanitizeResources: false,
  async fn() {
    const t0 = performance.now();
    const { webDir } = await buildOnce();
    const tmp = await Deno.makeTempDir({ prefix: "facekit_web_e2e_" });
    const runsDir = join(tmp, "runs");

    // The model: NoseNet layers, random weights; fc2 scaled and biased so the 5 points land
    // inside the image yet move with the input.
    await initRuntime();
    const model = new KeypointCnn(ARCH, 11);
    const w = await model.fc2.weight.read();
    model.fc2.weight.write(w.map((v) => v * 3));
    model.fc2.bias!.write(Float32Array.from(BIAS));
    await writeRun(runsDir, model);
    const photo = testPhoto(320, 240);
    const png = await photo.encode();
    const photoPath = join(runsDir, RUN, "photo.png"); // also served, for the drop
    await Deno.writeFile(photoPath, png);
    const brokenPath = join(tmp, "broken.png");
    await Deno.writeFile(brokenPath, png.slice(0, 100)); // a PNG cut short: undecodable
    const gray = await decodeImage(png, "photo.png");
    const [want] = await predictKeypoints(model, [gray]);
    const flat = { width: 320, height: 240, data: new Float32Array(320 * 240).fill(0.5) };
    const [atFlat] = await predictKeypoints(model, [flat]);
    model.dispose();
    const moved = Math.max(...want.map((v, i) => Math.abs(v - atFlat[i]) * (i % 2 ? 240 : 320)));
    assert.ok(moved > 3, `the test model barely depends on its input (${moved} px)`);
    for (let i = 0; i < want.length; i++) {
      assert.ok(want[i] > 0 && want[i] < (i % 2 ? 240 : 320), `point outside: ${want}`);
    }

    const server = serveWeb({ port: 0, webDir, runsDir });
    const origin = `http://127.0.0.1:${server.addr.port}`;
    let ctx: BrowserContext | null = null;
    try {
      try {
        ctx = await chromium.launchPersistentContext(join(tmp, "profile"), {
          executablePath: CHROMIUM,
          headless: true,
          args: CHROMIUM_ARGS,
          timeout: 30_000,
        });
      } catch (e) {
        const why = (e as Error).message.split("\n")[0];
        console.warn(`SKIP web e2e: ${CHROMIUM} does not start here: ${why}`);
        return;
      }
      const page = await ctx.newPage();
      const consoleErrors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(m.text());
      });
      page.on("pageerror", (e) => consoleErrors.push(String(e)));

      // 1. ?model=runs/<run>/ and an uploaded PNG.
      await page.goto(`${origin}/?model=runs/${RUN}/`);
      if ((await waitState(page, "gpu", ["ready", "unavailable"])) === "unavailable") {
        const why = await page.textContent("#message");
        console.warn(`SKIP web e2e: Chromium has no WebGPU adapter here: ${why}`);
        return;
      }
      const modelState = await waitState(page, "model", ["ready", "error"]);
      assert.equal(modelState, "ready", await page.evaluate(() => globalThis.__facekitError ?? ""));
      const runs = await page.evaluate(async () => await (await fetch("api/runs")).json());
      assert.deepEqual(runs, [RUN]);
      const res = await predictInPage(page, photoPath, "photo.png");
      assert.equal(res.width, 320);
      assert.equal(res.height, 240);
      assert.equal(res.convention, "continuous");
      const worst = assertClose(res.points, want, "?model= page");
      await assertMarkersDrawn(page, res);

      // 2. An undecodable file: a clear message naming it, no crash.
      await page.setInputFiles("#image-file", brokenPath);
      assert.equal(await waitState(page, "state", ["error"]), "error");
      const msg = await page.textContent("#message");
      assert.match(msg ?? "", /broken\.png: cannot decode image/);
      assert.deepEqual(
        consoleErrors.filter((e) => !/broken\.png: cannot decode/.test(e)),
        [],
        "console errors",
      );

      // 3. The model from the two file pickers, in a fresh page (a new WebGPU device), and the
      //    photo dropped on the page.
      const picked = await ctx.newPage();
      await picked.goto(`${origin}/`);
      assert.equal(await waitState(picked, "gpu", ["ready", "unavailable"]), "ready");
      await picked.setInputFiles("#config-file", join(runsDir, RUN, "config.json"));
      await picked.setInputFiles("#weights-file", join(runsDir, RUN, "model.safetensors"));
      const pickedState = await waitState(picked, "model", ["ready", "error"]);
      assert.equal(
        pickedState,
        "ready",
        await picked.evaluate(() => globalThis.__facekitError ?? ""),
      );
      const dropped = await predictInPage(picked, photoPath, "photo.png", `/runs/${RUN}/photo.png`);
      assertClose(dropped.points, want, "pickers + dropped photo");

      // 4. A browser without WebGPU, or without an adapter: the page says so.
      const noGpu = await ctx.newPage();
      await noGpu.addInitScript(() => {
        Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined });
      });
      await noGpu.goto(`${origin}/?model=runs/${RUN}/`);
      assert.equal(await waitState(noGpu, "gpu", ["ready", "unavailable"]), "unavailable");
      assert.match((await noGpu.textContent("#message")) ?? "", /WebGPU is not available/);
      await noGpu.setInputFiles("#image-file", photoPath); // still shown, without points
      await noGpu.waitForFunction(
        () =>
          (document.getElementById("view") as HTMLCanvasElement)
            .width === 320,
        null,
        { timeout: TIMEOUT_MS },
      );
      assert.match((await noGpu.textContent("#result-status")) ?? "", /WebGPU is unavailable/);
      assert.match((await noGpu.textContent("#message")) ?? "", /WebGPU is not available/);
      const noAdapter = await ctx.newPage();
      await noAdapter.addInitScript(() => {
        GPU.prototype.requestAdapter = () => Promise.resolve(null);
      });
      await noAdapter.goto(`${origin}/?model=runs/${RUN}/`);
      assert.equal(await waitState(noAdapter, "gpu", ["ready", "unavailable"]), "unavailable");
      assert.match((await noAdapter.textContent("#message")) ?? "", /no adapter is available/);
      // The model's fetch runs on its own: it ends in "error" once its files arrived.
      assert.equal(await waitState(noAdapter, "model", ["error", "ready"]), "error");
      console.log(
        `web e2e: ${res.adapter}, page inference ${res.ms.toFixed(0)} ms, largest distance ` +
          `to Deno's points ${worst.toExponential(1)} px, ` +
          `total ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    } finally {
      await ctx?.close();
      await server.shutdown();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

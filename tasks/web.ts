/**
 * `deno task web [--port N] [--host H] [--runs DIR] [--no-serve]`: bundles the browser demo
 * (`web/app.ts` → `web/dist/app.js`, WGSL shaders inlined as strings) with `deno bundle`, then
 * serves `web/` at `/` and the run folders (default: the repository's `runs/`) at `/runs/` on
 * http://127.0.0.1:8000. Open `http://127.0.0.1:8000/?model=runs/<run>/` in a WebGPU browser.
 *
 * - `--port N` (default 8000; 0 picks a free port), `--host H` (default 127.0.0.1; WebGPU needs a
 *   secure context, which plain http only is on localhost / 127.0.0.1);
 * - `--runs DIR`: the folder whose run folders are served at `/runs/` (relative paths are
 *   relative to the folder `deno task` was started from);
 * - `--no-serve`: only build.
 *
 * `GET /api/runs` lists the run folders that hold a model.safetensors (newest first) for the
 * page's run list.
 * @module
 */

import { existsSync, statSync } from "node:fs";
import { extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { numberFlag, parseFlags, runMain, UsageError } from "./cli.ts";

/** The repository root (where deno.json is). */
export const REPO_ROOT: string = fileURLToPath(new URL("../", import.meta.url));
/** The static demo folder served at `/`. */
export const WEB_DIR: string = join(REPO_ROOT, "web");
/** The bundle the page loads (`web/dist/app.js`). */
export const BUNDLE_PATH: string = join(WEB_DIR, "dist", "app.js");

/** Only imported lazily by data/image.ts for Deno-side decoding; never part of the page. */
const DENO_ONLY_EXTERNALS = ["npm:imagescript@1.3.1"];

/** What must never be in the browser bundle (a Deno-only module slipped into app.ts's graph). */
const FORBIDDEN_IN_BUNDLE: [RegExp, string][] = [
  [/imagescript/, "imagescript (decode images with the browser's codecs instead)"],
  [/["'](node|npm|jsr):/, "a node:/npm:/jsr: import the browser cannot load"],
  [/\bDeno\.[a-zA-Z]/, "a Deno API call"],
];

/** Result of {@link buildWeb}. */
export interface BuildResult {
  /** Path of the bundle written. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** Build time in milliseconds. */
  ms: number;
}

/**
 * Bundles `web/app.ts` for the browser into `out` (default `web/dist/app.js`, with a linked
 * source map) and checks the result holds no Deno-only code; throws with deno bundle's output
 * on failure.
 */
export async function buildWeb(out: string = BUNDLE_PATH): Promise<BuildResult> {
  const t0 = performance.now();
  const args = [
    "bundle",
    "--platform",
    "browser",
    "--sourcemap",
    "linked",
    ...DENO_ONLY_EXTERNALS.flatMap((e) => ["--external", e]),
    "--output",
    out,
    join(WEB_DIR, "app.ts"),
  ];
  const p = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const log = new TextDecoder().decode(p.stderr) + new TextDecoder().decode(p.stdout);
  if (p.code !== 0 || !existsSync(out)) {
    throw new Error(`deno bundle failed (exit ${p.code}):\n${log.trim()}`);
  }
  const code = await Deno.readTextFile(out);
  for (const [re, what] of FORBIDDEN_IN_BUNDLE) {
    const m = code.match(re);
    if (m) {
      const at = code.slice(Math.max(0, m.index! - 80), m.index! + 80).replace(/\s+/g, " ");
      throw new Error(`${out}: the browser bundle contains ${what}: …${at}…`);
    }
  }
  return { path: out, bytes: new TextEncoder().encode(code).length, ms: performance.now() - t0 };
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".csv": "text/csv; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".safetensors": "application/octet-stream",
};

/** Run folders under `runsDir` holding a model.safetensors, newest first. */
export function listRunFolders(runsDir: string): string[] {
  if (!existsSync(runsDir)) return [];
  const runs: { name: string; mtime: number }[] = [];
  for (const e of Deno.readDirSync(runsDir)) {
    if (!e.isDirectory || e.name.startsWith(".")) continue;
    const weights = join(runsDir, e.name, "model.safetensors");
    if (existsSync(weights)) runs.push({ name: e.name, mtime: statSync(weights).mtimeMs });
  }
  return runs.sort((a, b) => b.mtime - a.mtime || a.name.localeCompare(b.name)).map((r) => r.name);
}

/** Options of {@link webHandler} / {@link serveWeb}. */
export interface ServeOptions {
  /** Folder served at `/` (default `web/`). */
  webDir?: string;
  /** Folder served at `/runs/` (default the repository's `runs/`). */
  runsDir?: string;
}

/** The demo's request handler: static files only, GET/HEAD, no dot-files, no `..`. */
export function webHandler(opts: ServeOptions = {}): (req: Request) => Promise<Response> {
  const webDir = opts.webDir ?? WEB_DIR;
  const runsDir = opts.runsDir ?? join(REPO_ROOT, "runs");
  return async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url).pathname);
    } catch {
      return new Response("bad request", { status: 400 });
    }
    if (path === "/api/runs") {
      return Response.json(listRunFolders(runsDir), { headers: { "cache-control": "no-store" } });
    }
    const parts = path.split("/").filter((s) => s !== "");
    if (parts.some((s) => s.startsWith(".") || s.includes("\\") || s.includes("\0"))) {
      return new Response("forbidden", { status: 403 });
    }
    let file = parts[0] === "runs" ? join(runsDir, ...parts.slice(1)) : join(webDir, ...parts);
    try {
      if ((await Deno.stat(file)).isDirectory) file = join(file, "index.html");
      const body = req.method === "HEAD" ? null : await Deno.readFile(file);
      const type = TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
      return new Response(body, {
        headers: { "content-type": type, "cache-control": "no-cache" },
      });
    } catch {
      const hint = file === BUNDLE_PATH ? " (build it: deno task web --no-serve)" : "";
      return new Response(`not found${hint}`, { status: 404 });
    }
  };
}

/** Serves the demo (see {@link webHandler}); `port` 0 picks a free one (see `server.addr`). */
export function serveWeb(
  opts: ServeOptions & { hostname?: string; port?: number; signal?: AbortSignal } = {},
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    hostname: opts.hostname ?? "127.0.0.1",
    port: opts.port ?? 8000,
    signal: opts.signal,
    onListen: () => {},
  }, webHandler(opts));
}

async function main(): Promise<void> {
  const { values } = parseFlags(Deno.args, ["port", "host", "runs"], [
    "no-serve",
    "help",
  ]);
  if (values.help) {
    console.log(
      "usage: deno task web [--port N (8000)] [--host H (127.0.0.1)] [--runs DIR (runs/)] " +
        "[--no-serve]",
    );
    return;
  }
  const port = numberFlag(values, "port", 8000, { min: 0, max: 65535, integer: true });
  const hostname = typeof values.host === "string" ? values.host : "127.0.0.1";
  const cwd = Deno.env.get("INIT_CWD") ?? Deno.cwd();
  const runsDir = typeof values.runs === "string"
    ? resolve(cwd, values.runs)
    : join(REPO_ROOT, "runs");
  if (typeof values.runs === "string" && !existsSync(runsDir)) {
    throw new UsageError(`--runs ${values.runs}: folder not found`);
  }
  const built = await buildWeb();
  console.error(
    `built ${built.path} (${(built.bytes / 1024).toFixed(0)} KiB) in ${built.ms.toFixed(0)} ms`,
  );
  if (values["no-serve"]) return;
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = serveWeb({ hostname, port, runsDir });
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UsageError(`port ${port} on ${hostname} is in use: pass --port N`);
    }
    throw e;
  }
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const origin = `http://${host}:${server.addr.port}`;
  console.log(`facekit demo: ${origin}/  (run folders from ${runsDir}; Ctrl-C stops)`);
  for (const run of listRunFolders(runsDir).slice(0, 10)) {
    console.log(`  ${origin}/?model=runs/${run}/`);
  }
  await server.finished;
}

if (import.meta.main) await runMain(main);

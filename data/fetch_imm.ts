/**
 * Locates the IMM face database on disk, downloading and unpacking it when absent.
 *
 * Lookup order: the `--data` flag value, else the FACEKIT_DATA environment variable, else
 * `./datasets/imm_face_db`. The chosen folder (or one nested up to 3 levels below it, since zips
 * often wrap files in a folder) must hold the 240 `PP-Vg.jpg` + `PP-Vg.asf` pairs. When it holds
 * none, the zip is downloaded next to it (`<parent>/imm_face_db.zip`), unpacked into it, and
 * deleted. A folder with some pairs but not 240 is an error, never silently used or overwritten.
 *
 * @module
 */

// Full specifier so the module works without the import map.
// deno-lint-ignore no-import-prefix
import { unzipSync } from "npm:fflate@0.8.3";
import { dirname, isAbsolute, join, normalize } from "node:path";
import { listImmPairs } from "./imm.ts";

/** Public mirror of the IMM face database zip. */
export const IMM_ZIP_URL = "http://datasets.openimaj.org/imm_face_db.zip";
/** Home page of the IMM face database. */
export const IMM_HOME_PAGE = "http://www2.imm.dtu.dk/pubdb/pubs/3160-full.html";
/** Terms of use and the citation requested by the authors. */
export const IMM_TERMS = "Free for education and research. Cite: M. B. Stegmann, B. K. Ersbøll, " +
  'R. Larsen, "FAME – a flexible appearance modelling environment", IEEE Trans. Medical ' +
  "Imaging 22(10):1319–1331, 2003.";
/** Number of image/annotation pairs in the full data set. */
export const IMM_PAIR_COUNT = 240;

/** Options for {@link resolveImmDir}. */
export interface ResolveImmOptions {
  /** Value of the `--data DIR` flag; wins over everything else. */
  data?: string;
  /** Value of FACEKIT_DATA; when undefined it is read from the environment (if permitted). */
  env?: string;
  /** Zip URL to download from (default {@link IMM_ZIP_URL}; tests point it at a local server). */
  url?: string;
  /** Folder for downloaded data sets (default `./datasets`); the default dir is inside it. */
  datasetsDir?: string;
  /** Abort the download when no bytes arrive for this long (default 20 000 ms). */
  timeoutMs?: number;
  /** Pairs required (default 240). Only for tests with synthetic data; keep 240 for real use. */
  expectedPairs?: number;
}

/**
 * Returns the folder holding the IMM `.jpg`/`.asf` pairs, downloading
 * ({@link IMM_ZIP_URL}, progress on stderr) and unzipping into the chosen folder when it holds no
 * data. Throws when the data is incomplete, or when the download fails — with the URL, home page,
 * terms and how to pass `--data DIR` / `FACEKIT_DATA` in the message.
 */
export async function resolveImmDir(opts: ResolveImmOptions = {}): Promise<string> {
  const expected = opts.expectedPairs ?? IMM_PAIR_COUNT;
  const url = opts.url ?? IMM_ZIP_URL;
  const env = opts.env !== undefined ? opts.env : readEnv("FACEKIT_DATA");
  const chosen = opts.data || env || join(opts.datasetsDir ?? "./datasets", "imm_face_db");

  const found = await findPairsDir(chosen);
  if (found) return checkCount(found, expected);

  // Never unpack into a folder that already holds something else (e.g. a mistyped --data).
  await refuseOccupied(chosen);
  // No data: fetch the zip next to the chosen folder and unpack it into that folder.
  const zipPath = join(dirname(chosen), "imm_face_db.zip");
  await Deno.mkdir(dirname(chosen), { recursive: true });
  try {
    await download(url, zipPath, opts.timeoutMs ?? 20_000);
  } catch (e) {
    throw new Error(helpMessage(url, chosen, describe(e)));
  }
  try {
    await extractZip(zipPath, chosen);
  } catch (e) {
    throw new Error(helpMessage(url, chosen, describe(e)));
  } finally {
    await Deno.remove(zipPath).catch(() => {});
  }
  const unpacked = await findPairsDir(chosen);
  if (!unpacked) {
    throw new Error(
      `${url}: the zip unpacked into ${chosen} holds no PP-Vg.jpg/.asf pairs. ` +
        helpMessage(url, chosen, "unexpected archive layout"),
    );
  }
  return checkCount(unpacked, expected);
}

async function refuseOccupied(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch {
    return; // does not exist yet: a fine download target
  }
  const occupied = !info.isDirectory ||
    !(await Deno.readDir(dir)[Symbol.asyncIterator]().next()).done;
  if (occupied) {
    throw new Error(
      `${dir} holds no IMM face database (no PP-Vg.jpg + .asf pairs), and it is not empty, so ` +
        "nothing is downloaded into it. Pass the folder with the 240 pairs via --data DIR or " +
        `FACEKIT_DATA, or an empty/new folder to download into (source: ${IMM_ZIP_URL}).`,
    );
  }
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
}

function helpMessage(url: string, dir: string, reason: string): string {
  return [
    `IMM face database not found in ${dir}, and downloading it failed.`,
    `  source: ${url}`,
    `  error:  ${reason}`,
    `Get it yourself from ${url} (home page: ${IMM_HOME_PAGE}),`,
    "unzip it, and pass the folder holding the 240 .jpg/.asf pairs with `--data DIR` or the",
    "environment variable FACEKIT_DATA=DIR.",
    `Terms: ${IMM_TERMS}`,
  ].join("\n");
}

/** An error's message plus its cause chain (fetch hides the useful part in `cause`). */
function describe(e: unknown): string {
  const parts: string[] = [];
  for (let c = e, i = 0; c !== undefined && c !== null && i < 4; i++) {
    const msg = c instanceof Error ? c.message : String(c);
    if (msg && !parts.includes(msg)) parts.push(msg);
    c = c instanceof Error ? c.cause : undefined;
  }
  return parts.join(": ") || "unknown error";
}

async function checkCount(found: { dir: string; count: number }, expected: number) {
  const { unpaired } = await listImmPairs(found.dir);
  if (found.count !== expected || unpaired.length > 0) {
    const list = unpaired.slice(0, 5).join(", ") + (unpaired.length > 5 ? ", …" : "");
    throw new Error(
      `IMM data directory ${found.dir}: ${found.count} image/annotation pairs` +
        (unpaired.length ? ` and ${unpaired.length} file(s) without a partner (${list})` : "") +
        `, expected ${expected} pairs (` +
        (found.count > expected ? "extra files?" : "incomplete copy?") + ")",
    );
  }
  return found.dir;
}

/** Breadth-first search (depth ≤ 3) for the folder with the most IMM pairs; null when none. */
async function findPairsDir(root: string): Promise<{ dir: string; count: number } | null> {
  let best: { dir: string; count: number } | null = null;
  let level = [root];
  for (let depth = 0; depth <= 3 && level.length > 0; depth++) {
    const nextLevel: string[] = [];
    for (const dir of level) {
      let count = 0;
      try {
        count = (await listImmPairs(dir)).pairs.length;
        for await (const e of Deno.readDir(dir)) {
          if (e.isDirectory && !e.name.startsWith(".") && e.name !== "__MACOSX") {
            nextLevel.push(join(dir, e.name));
          }
        }
      } catch {
        continue; // missing or unreadable: no data here
      }
      if (count > 0 && (!best || count > best.count)) best = { dir, count };
    }
    if (best) return best; // prefer the shallowest folder with data
    level = nextLevel.sort();
  }
  return best;
}

/** Streams `url` to `dest` (via a `.part` file), aborting after `idleMs` without progress. */
async function download(url: string, dest: string, idleMs: number): Promise<void> {
  const ctrl = new AbortController();
  let timer = setTimeout(() => ctrl.abort(), idleMs);
  const part = `${dest}.part`;
  let file: Deno.FsFile | undefined;
  try {
    const res = await fetch(url, { signal: ctrl.signal });
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status} ${res.statusText}`);
    }
    const total = Number(res.headers.get("content-length")) || 0;
    file = await Deno.open(part, { write: true, create: true, truncate: true });
    const enc = new TextEncoder();
    let got = 0, lastShown = -1;
    const show = (final: boolean) => {
      const mb = (n: number) => (n / 1048576).toFixed(1);
      const pct = total ? ` (${Math.floor(100 * got / total)}%)` : "";
      const msg = `\rdownloading ${url}: ${mb(got)}${total ? ` / ${mb(total)}` : ""} MB${pct}`;
      Deno.stderr.writeSync(enc.encode(msg + (final ? "\n" : "")));
    };
    for await (const chunk of res.body) {
      clearTimeout(timer);
      timer = setTimeout(() => ctrl.abort(), idleMs);
      await file.write(chunk);
      got += chunk.length;
      const step = Math.floor(got / (1 << 20)); // update about once per MiB
      if (step !== lastShown) {
        lastShown = step;
        show(false);
      }
    }
    show(true);
    if (total && got !== total) throw new Error(`truncated download: ${got} of ${total} bytes`);
    file.close();
    file = undefined;
    await Deno.rename(part, dest);
  } catch (e) {
    if (ctrl.signal.aborted) throw new Error(`no response for ${idleMs / 1000} s (timed out)`);
    throw e;
  } finally {
    clearTimeout(timer);
    file?.close();
    await Deno.remove(part).catch(() => {});
  }
}

/** Unzips `zipPath` into `destDir`, refusing entries that would escape it. */
async function extractZip(zipPath: string, destDir: string): Promise<void> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(await Deno.readFile(zipPath));
  } catch (e) {
    throw new Error(`${zipPath}: not a valid zip archive (${(e as Error).message})`);
  }
  for (const [name, data] of Object.entries(entries)) {
    if (name.endsWith("/") || name.startsWith("__MACOSX/")) continue;
    const rel = normalize(name);
    if (isAbsolute(rel) || rel.startsWith("..")) {
      throw new Error(`${zipPath}: unsafe entry name "${name}"`);
    }
    const out = join(destDir, rel);
    await Deno.mkdir(dirname(out), { recursive: true });
    await Deno.writeFile(out, data);
  }
}

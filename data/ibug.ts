/**
 * Loader for iBUG 300-W style data sets described by a dlib imglab XML file (68-point training
 * lists with `<part>`s, or test lists with boxes only).
 *
 * Every face is cropped ONCE to a `size`×`size` square around its box ({@link faceCropMatrix},
 * side 1.4 × the longer box side) in worker threads, and the crops are cached on disk as bytes:
 * one file per (XML path, size) under `cacheDir` (default `.cache/ibug` in the working directory).
 * Each cached crop is keyed by its image path, box, the image file's size and mtime, the crop
 * scale and {@link IBUG_CROP_VERSION}, so editing or touching an image (or changing the crop code
 * and bumping the version) re-crops just what changed. A warm load only parses the XML, stats the
 * images and reads one file.
 *
 * Memory: crops stay as bytes (`IbugFace.pixels`, 0..255, size² each; 2012 faces at 224² are
 * 101 MB). `IbugFace.image` is a getter that converts to a fresh Float32 {@link GrayImage}
 * (0..1) on every access, so convert once per use and don't rely on mutating it.
 *
 * Coordinates: `IbugFace.points` are in continuous crop pixels (the `image.ts` convention, pixel
 * centre at i + 0.5). Map predictions back to the XML/CSV convention with
 * `pointsToOriginal(face.matrix, pred)` — see `face_crop.ts`.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import type { Affine } from "./affine.ts";
import { type DlibBox, parseDlibXmlDetailed } from "./dlib_xml.ts";
import {
  boxImageProblem,
  type CropBox,
  cropCheckedFaces,
  DEFAULT_CROP_SCALE,
  faceCropMatrix,
  pointsToCrop,
} from "./face_crop.ts";
import { decodeImage, type GrayImage } from "./image.ts";
import type { CropReply, CropRequest } from "./ibug_crop_worker.ts";

/** Bump when the cropping code changes output: invalidates every cached crop. */
export const IBUG_CROP_VERSION = 1;

/** Number of landmarks per face. */
export const IBUG_NUM_POINTS = 68;

const MAGIC = "FKIBUGC1";

/** One face (one XML box). Treat as read-only. */
export interface IbugFace {
  /** Image file as written in the XML (relative to the XML's folder). */
  file: string;
  /** Position of this box in the XML's box order (the Kaggle face index when nothing is skipped). */
  index: number;
  /** The XML box; `box.parts` holds the landmarks in original 0-based pixels (or null). */
  box: DlibBox;
  /** Crop side in pixels. */
  size: number;
  /** The crop as bytes 0..255, row-major, size² long (may be a view into a shared buffer). */
  pixels: Uint8Array;
  /** The crop as a new Float32 gray image (0..1), converted from `pixels` on every access. */
  readonly image: GrayImage;
  /** Original (continuous) → crop (continuous) matrix, see `face_crop.ts`. */
  matrix: Affine;
  /** 68 landmarks in continuous crop pixels; null for box-only (test) lists. */
  points: Float32Array | null;
  /** Source image [width, height]. */
  originalSize: [number, number];
}

/** Where the faces of a load came from. */
export interface IbugLoadStats {
  /** Boxes considered (after `limit`). */
  total: number;
  /** Faces served from the disk cache. */
  fromCache: number;
  /** Faces decoded and cropped in this call. */
  decoded: number;
  /** Wall time of the load in milliseconds. */
  ms: number;
  /** Cache file used (null when caching is off). */
  cacheFile: string | null;
}

/** Result of {@link loadIbugDataset}. */
export interface IbugDataset {
  /** Faces in XML box order (skipped ones left out). */
  faces: IbugFace[];
  /** Faces left out with `skipBad`, with the reason. */
  skipped: { file: string; reason: string }[];
  /** Cache statistics. */
  stats: IbugLoadStats;
}

/** Options for {@link loadIbugDataset}. */
export interface LoadIbugOptions {
  /** Crop side in pixels. */
  size: number;
  /** Only the first `limit` boxes of the XML. */
  limit?: number;
  /** Worker threads for decoding (default min(4, CPU count)); 0 or 1: main thread. */
  workers?: number;
  /** Cache folder (default `.cache/ibug` in the working directory); null disables the cache. */
  cacheDir?: string | null;
  /** Skip (and list in `skipped`) bad images and annotations instead of throwing. */
  skipBad?: boolean;
  /** Progress callback: faces done (cached or cropped) out of `total`. */
  onProgress?: (done: number, total: number) => void;
  /** Crop side relative to the box's longer side (default 1.4). */
  scaleFactor?: number;
}

/** Converts bytes 0..255 to a Float32 gray image 0..1. */
export function bytesToImage(pixels: Uint8Array, width: number, height: number): GrayImage {
  if (pixels.length !== width * height) {
    throw new Error(`bytesToImage: ${pixels.length} bytes for ${width}×${height}`);
  }
  const data = new Float32Array(pixels.length);
  const k = 1 / 255;
  for (let i = 0; i < data.length; i++) data[i] = pixels[i] * k;
  return { width, height, data };
}

/** The crop of `face` as a Float32 gray image (same as `face.image`). */
export function faceImage(face: Pick<IbugFace, "pixels" | "size">): GrayImage {
  return bytesToImage(face.pixels, face.size, face.size);
}

class Face implements IbugFace {
  constructor(
    public file: string,
    public index: number,
    public box: DlibBox,
    public size: number,
    public pixels: Uint8Array,
    public matrix: Affine,
    public points: Float32Array | null,
    public originalSize: [number, number],
  ) {}
  get image(): GrayImage {
    return bytesToImage(this.pixels, this.size, this.size);
  }
}

/**
 * Splits faces deterministically: the LAST `round(valFraction · n)` faces are validation, the
 * rest training (no shuffle, so the split never changes between runs).
 */
export function splitTrainVal<T>(faces: readonly T[], valFraction = 0.1): { train: T[]; val: T[] } {
  if (!(valFraction >= 0 && valFraction <= 1)) {
    throw new Error(`splitTrainVal: valFraction ${valFraction} not in [0, 1]`);
  }
  const nVal = Math.round(faces.length * valFraction);
  const cut = faces.length - nVal;
  return { train: faces.slice(0, cut), val: faces.slice(cut) };
}

/** Decodes XML bytes honouring an ISO-8859-1 / Latin-1 declaration (dlib writes one). */
function decodeXml(bytes: Uint8Array): string {
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, 200));
  const m = /^\s*<\?xml[^>]*encoding\s*=\s*["']([^"']+)["']/.exec(head);
  const enc = m ? m[1].toLowerCase() : "utf-8";
  const latin = ["iso-8859-1", "latin1", "latin-1", "iso8859-1", "windows-1252", "us-ascii"];
  return new TextDecoder(latin.includes(enc) ? "windows-1252" : "utf-8").decode(bytes);
}

interface CacheEntry {
  key: string;
  originalSize: [number, number];
  offset: number; // byte offset of the crop in `data`
}

interface CacheContents {
  entries: CacheEntry[];
  data: Uint8Array;
}

interface CacheHeader {
  version: number;
  size: number;
  scaleFactor: number;
  xml: string;
  entries: [string, number, number][]; // key, original width, original height
}

function entryKey(path: string, box: CropBox, st: Deno.FileInfo): string {
  const mtime = st.mtime ? st.mtime.getTime() : -1;
  return `${path}|${box.top},${box.left},${box.width},${box.height}|${st.size}|${mtime}`;
}

async function cacheFileName(xmlPath: string, size: number, cacheDir: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(xmlPath));
  const hex = [...new Uint8Array(digest).slice(0, 8)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  const base = xmlPath.split(/[\\/]/).pop()!.replace(/\.xml$/i, "").replace(/[^\w.-]/g, "_");
  return join(cacheDir, `${base}-${hex}-${size}.bin`);
}

/** Reads a cache file; returns null (never throws) when it is absent, stale or corrupt. */
async function readCache(
  file: string,
  xmlPath: string,
  size: number,
  scaleFactor: number,
): Promise<CacheContents | null> {
  let buf: Uint8Array;
  try {
    buf = await Deno.readFile(file);
  } catch {
    return null;
  }
  try {
    if (new TextDecoder().decode(buf.subarray(0, 8)) !== MAGIC) return null;
    const len = new DataView(buf.buffer, buf.byteOffset + 8, 4).getUint32(0, true);
    const h = JSON.parse(new TextDecoder().decode(buf.subarray(12, 12 + len))) as CacheHeader;
    if (
      h.version !== IBUG_CROP_VERSION || h.size !== size || h.scaleFactor !== scaleFactor ||
      h.xml !== xmlPath || !Array.isArray(h.entries)
    ) return null;
    const start = 12 + len, n = size * size;
    if (buf.length !== start + h.entries.length * n) return null;
    const entries = h.entries.map(([key, w, hh], i) => ({
      key,
      originalSize: [w, hh] as [number, number],
      offset: start + i * n,
    }));
    return { entries, data: buf };
  } catch {
    return null;
  }
}

async function writeCache(
  file: string,
  header: CacheHeader,
  crops: Uint8Array[],
): Promise<void> {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = header.size * header.size;
  const out = new Uint8Array(12 + json.length + crops.length * n);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  crops.forEach((c, i) => out.set(c, 12 + json.length + i * n));
  await Deno.mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${Deno.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await Deno.writeFile(tmp, out);
    await Deno.rename(tmp, file);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** One face to produce: its XML entry and where its image lives. */
interface Job {
  slot: number; // position in the output order
  index: number;
  file: string;
  path: string;
  box: DlibBox;
  key: string;
  imageIndex: number; // `<image>` element index in the XML
  boxIndex: number; // box index within its image
  line: number; // line of the `<box>` tag
}

/**
 * Loads the faces listed in the dlib XML at `xmlPath` (image paths relative to its folder),
 * cropped to `opts.size`² around each box, with landmarks (if present) in crop pixels. Uses and
 * refreshes the on-disk crop cache (see the module doc). A corrupt, missing or unreadable image,
 * a malformed annotation, or a box that lies entirely outside its image (checked once the image
 * size is known; a box partly outside is fine) throws an Error naming the file(s), unless `skipBad`
 * is set: then the face is left out and listed in `skipped`. XML syntax errors always throw.
 */
export async function loadIbugDataset(
  xmlPath: string,
  opts: LoadIbugOptions,
): Promise<IbugDataset> {
  const t0 = performance.now();
  const { size, skipBad = false, onProgress } = opts;
  const scaleFactor = opts.scaleFactor ?? DEFAULT_CROP_SCALE;
  if (!Number.isInteger(size) || size <= 0) throw new Error(`loadIbugDataset: bad size ${size}`);
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 0)) {
    throw new Error(`loadIbugDataset: bad limit ${opts.limit}`);
  }
  const xmlAbs = resolve(xmlPath);
  let xmlBytes: Uint8Array;
  try {
    xmlBytes = await Deno.readFile(xmlAbs);
  } catch (e) {
    throw new Error(`${xmlPath}: cannot read annotation file (${(e as Error).message})`);
  }
  const { entries } = parseDlibXmlDetailed(decodeXml(xmlBytes), xmlPath, IBUG_NUM_POINTS);
  const chosen = opts.limit === undefined ? entries : entries.slice(0, opts.limit);
  const total = chosen.length;
  const root = dirname(xmlAbs);
  const skipped: { file: string; reason: string }[] = [];
  const bad = (file: string, reason: string) => {
    if (!skipBad) throw new Error(reason);
    skipped.push({ file, reason });
  };
  /** Message for a box that does not fit its image (same prefix as the XML parser's messages). */
  const boxMessage = (j: Job, problem: string) =>
    `${xmlPath}:${j.line}: image #${j.imageIndex} (file '${j.file}') box #${j.boxIndex}: ` +
    `${problem} (${j.path})`;
  /** Prefix that points an image's read or decode error back to the XML entry naming it. */
  const imageRef = (e: { line: number; imageIndex: number }) =>
    `${xmlPath}:${e.line}: image #${e.imageIndex}: `;

  // Stat every image once (stat BEFORE reading, so a later change always shows up in the key).
  const stats = new Map<string, Promise<Deno.FileInfo | Error>>();
  for (const e of chosen) {
    if (!e.box) continue;
    const path = resolve(root, e.file);
    if (!stats.has(path)) {
      stats.set(path, Deno.stat(path).catch((err) => err as Error));
    }
  }
  const jobs: Job[] = [];
  let slot = 0;
  for (const [index, e] of chosen.entries()) {
    if (!e.box) {
      bad(e.file, e.issue!);
      continue;
    }
    const path = resolve(root, e.file);
    const st = await stats.get(path)!;
    if (st instanceof Error) {
      bad(e.file, `${imageRef(e)}${path}: cannot read image (${st.message})`);
      continue;
    }
    if (!st.isFile) {
      bad(e.file, `${imageRef(e)}${path}: not a file`);
      continue;
    }
    jobs.push({
      slot: slot++,
      index,
      file: e.file,
      path,
      box: e.box,
      key: entryKey(path, e.box, st),
      imageIndex: e.imageIndex,
      boxIndex: e.boxIndex,
      line: e.line,
    });
  }

  // Cache lookup.
  const cacheDir = opts.cacheDir === undefined ? join(Deno.cwd(), ".cache", "ibug") : opts.cacheDir;
  const cacheFile = cacheDir === null ? null : await cacheFileName(xmlAbs, size, resolve(cacheDir));
  const cache = cacheFile === null ? null : await readCache(cacheFile, xmlAbs, size, scaleFactor);
  const cached = new Map<string, CacheEntry>();
  for (const c of cache?.entries ?? []) cached.set(c.key, c);

  const n = size * size;
  const pixels: (Uint8Array | undefined)[] = new Array(jobs.length);
  const origSizes: ([number, number] | undefined)[] = new Array(jobs.length);
  const failed = new Set<number>();
  const todo: Job[] = [];
  let fromCache = 0;
  for (const j of jobs) {
    const c = cached.get(j.key);
    if (!c) {
      todo.push(j);
      continue;
    }
    // Re-check against the cached image size (the cache may predate this check).
    const problem = boxImageProblem(j.box, c.originalSize[0], c.originalSize[1]);
    if (problem !== null) {
      failed.add(j.slot);
      bad(j.file, boxMessage(j, problem));
      continue;
    }
    pixels[j.slot] = cache!.data.subarray(c.offset, c.offset + n);
    origSizes[j.slot] = c.originalSize;
    fromCache++;
  }
  let done = jobs.length - todo.length + (total - jobs.length);
  onProgress?.(done, total);

  // Decode + crop what is missing, one job per image file.
  const groups = new Map<string, Job[]>();
  for (const j of todo) {
    const g = groups.get(j.path);
    if (g) g.push(j);
    else groups.set(j.path, [j]);
  }
  await cropAll([...groups.values()], size, scaleFactor, opts.workers, (group, reply) => {
    if (reply.error !== undefined || !reply.crops) {
      for (const j of group) {
        failed.add(j.slot);
        // Name the XML entry too, so the user can find it.
        const msg = imageRef(j) + (reply.error ?? `${j.path}: no crops returned`);
        skipped.push({ file: j.file, reason: msg });
        if (!skipBad) throw new Error(msg);
      }
    } else {
      group.forEach((j, k) => {
        const problem = reply.problems?.[k] ?? null;
        if (problem !== null) {
          // The box does not fit the decoded image: this face only.
          failed.add(j.slot);
          const msg = boxMessage(j, problem);
          skipped.push({ file: j.file, reason: msg });
          if (!skipBad) throw new Error(msg);
          return;
        }
        pixels[j.slot] = reply.crops!.subarray(k * n, (k + 1) * n);
        origSizes[j.slot] = [reply.width!, reply.height!];
      });
    }
    done += group.length;
    onProgress?.(done, total);
  });

  // Assemble faces in XML order.
  const faces: IbugFace[] = [];
  for (const j of jobs) {
    if (failed.has(j.slot)) continue;
    const matrix = faceCropMatrix(j.box, size, scaleFactor);
    const points = j.box.parts ? pointsToCrop(matrix, j.box.parts) : null;
    faces.push(
      new Face(j.file, j.index, j.box, size, pixels[j.slot]!, matrix, points, origSizes[j.slot]!),
    );
  }
  // Failures were pushed in completion order; report them in XML order.
  skipped.sort((a, b) => order(a.file) - order(b.file));

  const decoded = todo.filter((j) => !failed.has(j.slot)).length;
  // Refresh the cache: current faces plus old entries for other boxes (e.g. beyond `limit`).
  if (cacheFile !== null && decoded > 0) {
    const keys: [string, number, number][] = [];
    const crops: Uint8Array[] = [];
    const seen = new Set<string>();
    const boxId = (key: string) => key.split("|").slice(0, 2).join("|");
    for (const f of jobs) {
      seen.add(boxId(f.key)); // a failed face's old entry is dropped too
      if (failed.has(f.slot)) continue;
      keys.push([f.key, ...origSizes[f.slot]!]);
      crops.push(pixels[f.slot]!);
    }
    for (const c of cache?.entries ?? []) {
      if (seen.has(boxId(c.key))) continue;
      seen.add(boxId(c.key));
      keys.push([c.key, ...c.originalSize]);
      crops.push(cache!.data.subarray(c.offset, c.offset + n));
    }
    const header: CacheHeader = {
      version: IBUG_CROP_VERSION,
      size,
      scaleFactor,
      xml: xmlAbs,
      entries: keys,
    };
    try {
      await writeCache(cacheFile, header, crops);
    } catch (e) {
      console.warn(`loadIbugDataset: cannot write cache ${cacheFile}: ${(e as Error).message}`);
    }
  }
  return {
    faces,
    skipped,
    stats: {
      total,
      fromCache,
      decoded,
      ms: performance.now() - t0,
      cacheFile,
    },
  };

  function order(file: string): number {
    const i = chosen.findIndex((e) => e.file === file);
    return i < 0 ? Infinity : i;
  }
}

/**
 * Runs one crop job per group (all boxes of one image) in worker threads (or inline), calling
 * `onDone` as each finishes. If `onDone` throws, no new jobs start and the error is rethrown once
 * the running ones have finished.
 */
async function cropAll(
  groups: Job[][],
  size: number,
  scaleFactor: number,
  workersOpt: number | undefined,
  onDone: (group: Job[], reply: CropReply) => void,
): Promise<void> {
  if (groups.length === 0) return;
  const nWorkers = Math.min(
    groups.length,
    workersOpt ?? Math.min(4, navigator.hardwareConcurrency),
  );
  const inline = async (g: Job[], id: number): Promise<CropReply> => {
    try {
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(g[0].path);
      } catch (e) {
        throw new Error(`${g[0].path}: cannot read image (${(e as Error).message})`);
      }
      const img = await decodeImage(bytes, g[0].path);
      const { crops, problems } = cropCheckedFaces(img, g.map((j) => j.box), size, scaleFactor);
      return { id, width: img.width, height: img.height, crops, problems };
    } catch (e) {
      return { id, error: e instanceof Error ? e.message : String(e) };
    }
  };
  const workers: Worker[] = [];
  if (nWorkers > 1) {
    try {
      for (let w = 0; w < nWorkers; w++) {
        workers.push(
          new Worker(new URL("./ibug_crop_worker.ts", import.meta.url), { type: "module" }),
        );
      }
    } catch {
      for (const w of workers) w.terminate(); // no permission for workers: run inline
      workers.length = 0;
    }
  }
  let next = 0;
  let stop: unknown = null;
  const take = () => (stop === null && next < groups.length ? next++ : -1);
  const finish = (i: number, reply: CropReply) => {
    try {
      onDone(groups[i], reply);
    } catch (e) {
      stop ??= e;
    }
  };
  try {
    if (workers.length === 0) {
      for (let i = take(); i >= 0; i = take()) finish(i, await inline(groups[i], i));
    } else {
      await Promise.all(workers.map(async (worker) => {
        for (let i = take(); i >= 0; i = take()) {
          const g = groups[i];
          const reply = await new Promise<CropReply>((res) => {
            worker.onmessage = (ev: MessageEvent<CropReply>) => res(ev.data);
            worker.onerror = (ev) => {
              ev.preventDefault();
              res({ id: i, error: `${g[0].path}: crop worker failed (${ev.message})` });
            };
            const req: CropRequest = {
              id: i,
              path: g[0].path,
              boxes: g.map(({ box: { top, left, width, height } }) => ({
                top,
                left,
                width,
                height,
              })),
              size,
              scaleFactor,
            };
            worker.postMessage(req);
          });
          finish(i, reply);
        }
      }));
    }
  } finally {
    for (const w of workers) w.terminate();
  }
  if (stop !== null) throw stop;
}

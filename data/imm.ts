/**
 * Loader for the IMM face database: 240 images `PP-Vg.jpg` (person PP 01–40, view V 1–6,
 * gender g) with 58-point `.asf` annotations. Split by person, never by image: people 1–32 train
 * (192 images), 33–40 validation (48).
 *
 * @module
 */

import { join, resolve } from "node:path";
import { parseAsf } from "./asf.ts";
import { decodeImage, type GrayImage, resizeImage } from "./image.ts";
import type { DecodeReply, DecodeRequest } from "./decode_worker.ts";

/** Number of landmarks per IMM face. */
export const IMM_NUM_POINTS = 58;
/** Last person number in the training split; higher numbers are validation. */
export const IMM_LAST_TRAIN_PERSON = 32;
/** Base-name pattern of an IMM file: person, view, gender letter. */
const NAME_RE = /^(\d{2})-(\d)([mf])$/i;

/** One IMM face. Treat as read-only: loads are cached and the same objects are shared. */
export interface ImmSample {
  /** Base name, e.g. `"01-1m"`. */
  name: string;
  /** Person number 1–40. */
  person: number;
  /** Gray image resized to the requested width×height, values 0..1. */
  image: GrayImage;
  /** 58 points, interleaved x, y, relative to width/height (0..1); pixels = x·width, y·height. */
  points: Float32Array;
}

/** The IMM split. */
export interface ImmDataset {
  /** People 1–32 (192 images in the full set). */
  train: ImmSample[];
  /** People 33–40 (48 images in the full set). */
  val: ImmSample[];
}

/** Options for {@link loadImmDataset}. */
export interface LoadImmOptions {
  /** Output image width in pixels. */
  width: number;
  /** Output image height in pixels. */
  height: number;
  /**
   * Decoder worker threads (default: min(4, CPU count)); 0 or 1 decodes on the main thread.
   * imagescript decodes synchronously, so only workers give real parallelism.
   */
  workers?: number;
}

/** Result of {@link listImmPairs}: sorted base names with both files, and files lacking one. */
export interface ImmListing {
  /** Base names (e.g. `"01-1m"`) that have both `.jpg` and `.asf`, sorted. */
  pairs: string[];
  /** File names whose partner (`.jpg` ↔ `.asf`) is missing, sorted. */
  unpaired: string[];
  /** The file names of each pair as they are on disk (extensions may be upper case). */
  files: Map<string, { jpg: string; asf: string }>;
}

/**
 * Lists IMM-named `.jpg`/`.asf` files in `dir` (non-recursive, extensions case-insensitive;
 * symbolic links to files count, as in a folder of links to a read-only copy).
 */
export async function listImmPairs(dir: string): Promise<ImmListing> {
  const jpg = new Map<string, string>(), asf = new Map<string, string>();
  try {
    for await (const e of Deno.readDir(dir)) {
      const isFile = e.isFile ||
        (e.isSymlink && await Deno.stat(join(dir, e.name)).then((s) => s.isFile, () => false));
      if (!isFile) continue;
      const m = /^(.*)\.(jpg|asf)$/i.exec(e.name);
      if (!m || !NAME_RE.test(m[1])) continue;
      (m[2].toLowerCase() === "jpg" ? jpg : asf).set(m[1], e.name);
    }
  } catch (e) {
    throw new Error(`IMM data directory ${dir}: cannot read (${(e as Error).message})`);
  }
  const pairs = [...jpg.keys()].filter((b) => asf.has(b)).sort();
  const files = new Map(pairs.map((b) => [b, { jpg: jpg.get(b)!, asf: asf.get(b)! }]));
  const unpaired = [
    ...[...jpg].filter(([b]) => !asf.has(b)).map(([, f]) => f),
    ...[...asf].filter(([b]) => !jpg.has(b)).map(([, f]) => f),
  ].sort();
  return { pairs, unpaired, files };
}

const cache = new Map<string, Promise<ImmDataset>>();

/**
 * Loads the IMM data set from `dir`, resizing images to `width`×`height`. Results are cached in
 * memory per (directory, width, height), so later calls return the same samples immediately.
 * Throws (naming `dir`) when no pairs exist, a file lacks its partner, an annotation is invalid,
 * or the full 40-person set does not split into 192/48.
 */
export function loadImmDataset(dir: string, opts: LoadImmOptions): Promise<ImmDataset> {
  const { width, height } = opts;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    return Promise.reject(new Error(`loadImmDataset: bad size ${width}×${height}`));
  }
  const key = `${resolve(dir)}\0${width}\0${height}`;
  let p = cache.get(key);
  if (!p) {
    p = loadUncached(dir, opts);
    cache.set(key, p);
    p.catch(() => cache.delete(key)); // don't cache failures: the user may fix the data
  }
  return p;
}

async function loadUncached(dir: string, opts: LoadImmOptions): Promise<ImmDataset> {
  const { width, height } = opts;
  const { pairs, unpaired, files } = await listImmPairs(dir);
  if (unpaired.length > 0) {
    const list = unpaired.slice(0, 5).join(", ") + (unpaired.length > 5 ? ", …" : "");
    throw new Error(
      `IMM data directory ${dir}: ${unpaired.length} file(s) without their .jpg/.asf partner: ` +
        list,
    );
  }
  if (pairs.length === 0) {
    throw new Error(`IMM data directory ${dir}: no image/annotation pairs (PP-Vg.jpg + PP-Vg.asf)`);
  }

  const shapes = await Promise.all(pairs.map(async (base) => {
    const file = join(dir, files.get(base)!.asf);
    const { points, imageName } = parseAsf(await Deno.readTextFile(file), file, IMM_NUM_POINTS);
    if (imageName !== null && imageName.toLowerCase() !== `${base}.jpg`.toLowerCase()) {
      throw new Error(`${file}: host image is "${imageName}", expected "${base}.jpg"`);
    }
    return points;
  }));

  const images = await decodeAll(
    pairs.map((b) => join(dir, files.get(b)!.jpg)),
    width,
    height,
    opts,
  );

  const samples: ImmSample[] = pairs.map((name, i) => {
    const person = Number(NAME_RE.exec(name)![1]);
    if (person < 1 || person > 40) {
      throw new Error(`IMM data directory ${dir}: ${name} has person ${person}, expected 1–40`);
    }
    return { name, person, image: images[i], points: shapes[i] };
  });
  const train = samples.filter((s) => s.person <= IMM_LAST_TRAIN_PERSON);
  const val = samples.filter((s) => s.person > IMM_LAST_TRAIN_PERSON);
  // Guard against a half-copied data set or a debug subset silently shrinking the split.
  if (new Set(samples.map((s) => s.person)).size === 40) {
    if (train.length !== 192 || val.length !== 48) {
      throw new Error(
        `IMM data directory ${dir}: all 40 people present but split is ` +
          `${train.length}/${val.length}, expected 192/48 (missing or extra views?)`,
      );
    }
  }
  return { train, val };
}

/** Decodes and resizes files, in worker threads when available, keeping input order. */
async function decodeAll(
  files: string[],
  width: number,
  height: number,
  opts: LoadImmOptions,
): Promise<GrayImage[]> {
  const nWorkers = Math.min(
    files.length,
    opts.workers ?? Math.min(4, navigator.hardwareConcurrency),
  );
  const out: GrayImage[] = new Array(files.length);
  const inline = async (i: number) => {
    const img = await decodeImage(await Deno.readFile(files[i]), files[i]);
    out[i] = resizeImage(img, width, height);
  };
  if (nWorkers <= 1) {
    for (let i = 0; i < files.length; i++) await inline(i);
    return out;
  }

  const workers: Worker[] = [];
  try {
    for (let w = 0; w < nWorkers; w++) {
      workers.push(new Worker(new URL("./decode_worker.ts", import.meta.url), { type: "module" }));
    }
  } catch {
    // No permission to spawn workers (or unsupported runtime): decode on this thread.
    for (const w of workers) w.terminate();
    for (let i = 0; i < files.length; i++) await inline(i);
    return out;
  }
  let next = 0;
  const runWorker = async (worker: Worker) => {
    while (next < files.length) {
      const i = next++;
      const bytes = await Deno.readFile(files[i]);
      const reply = await new Promise<DecodeReply>((res, rej) => {
        worker.onmessage = (ev: MessageEvent<DecodeReply>) => res(ev.data);
        worker.onerror = (ev) => {
          ev.preventDefault();
          rej(new Error(`${files[i]}: decoder worker failed (${ev.message})`));
        };
        const req: DecodeRequest = { id: i, name: files[i], bytes, width, height };
        worker.postMessage(req, [bytes.buffer as ArrayBuffer]);
      });
      if (reply.error !== undefined || !reply.data) throw new Error(reply.error);
      out[i] = { width, height, data: reply.data };
    }
  };
  try {
    await Promise.all(workers.map(runWorker));
  } finally {
    for (const w of workers) w.terminate();
  }
  return out;
}

/**
 * Maps 0..1 pixels to the model's input range [-0.5, 0.5] (value − 0.5). Writes into `out` when
 * given (must have width·height elements) to avoid allocating per batch.
 */
export function toModelInput(img: GrayImage, out?: Float32Array): Float32Array {
  const n = img.width * img.height;
  const dst = out ?? new Float32Array(n);
  if (dst.length !== n) throw new Error(`toModelInput: out has ${dst.length} elements, need ${n}`);
  for (let i = 0; i < n; i++) dst[i] = img.data[i] - 0.5;
  return dst;
}

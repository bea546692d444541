/**
 * `deno task predict --model RUN_DIR [--box x,y,w,h | --labels FILE.xml] [--csv] [--out DIR]
 * [--batch N] IMAGE...`: keypoints for any images (PNG or JPEG, gray, color or with alpha, any
 * size) with a trained run folder.
 *
 * - NoseNet / FaceNet runs (`train:nose`, `train:face`): the whole image is the input; points are
 *   in original-image pixels, continuous convention (pixel i covers [i, i+1)).
 * - ResNet-18 runs (`train:ibug`): the face is given by `--box left,top,width,height` (the same
 *   box for every image) or by `--labels FILE.xml` (dlib XML; boxes found by image path, else by
 *   file name; one result per box). Points are annotation coordinates (pixel i's centre at i),
 *   like dlib XML and 300-W `.pts` files.
 *
 * Writes a JSON array `[{ image, width, height, points: [[x, y], …], box? }]` to stdout (or CSV
 * `image,point,x,y` with `--csv`; an image with several boxes repeats its rows per box) and an SVG
 * overlay `<image file name>.keypoints.svg` per image into `--out DIR` (default: the current
 * folder). A file that cannot be read or decoded, or whose box lies entirely outside it, is
 * reported on stderr and skipped; the exit code is then 1 after every other image was processed. Bad flags exit with 2. Relative paths are
 * relative to the folder `deno task` was started from (`INIT_CWD`), else the current folder.
 * @module
 */

import { existsSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { initRuntime } from "../nn/runtime.ts";
import { KeypointCnn, type KeypointCnnConfig } from "../nn/models/keypoint_cnn.ts";
import { ResNet18, type ResNet18Config } from "../nn/models/resnet18.ts";
import { loadModel } from "../nn/serialize.ts";
import { predictKeypoints } from "../nn/predict.ts";
import { decodeImage, type GrayImage, resizeImage } from "../data/image.ts";
import { boxImageProblem, type CropBox } from "../data/face_crop.ts";
import { parseDlibXml } from "../data/dlib_xml.ts";
import { parseDecimal } from "../data/decimal.ts";
import { keypointsSvg } from "../plot/keypoints_svg.ts";
import { numberFlag, parseFlags, runMain, UsageError } from "./cli.ts";
import { writeFileAtomic } from "./run_files.ts";

const USAGE = "usage: deno task predict --model RUN_DIR [--box x,y,w,h | --labels FILE.xml] " +
  "[--csv] [--out DIR] [--batch N] IMAGE...";

/** Longer side, in pixels, of the picture embedded in (and shown by) each SVG overlay. */
const SVG_SIDE = 512;

/** One predicted face. */
export interface PredictResult {
  /** The image path as given on the command line. */
  image: string;
  /** Original image width in pixels. */
  width: number;
  /** Original image height in pixels. */
  height: number;
  /** Points in original-image pixels, in the model's output order. */
  points: [number, number][];
  /** The face box used (ResNet-18 only). */
  box?: CropBox;
}

/** A loaded run folder. */
export interface PredictModel {
  /** The network, in evaluation mode. */
  model: KeypointCnn | ResNet18;
  /** The parsed config.json. */
  config: Record<string, unknown>;
}

/**
 * Loads the model of a train:nose / train:face / train:ibug run folder (initialising the runtime
 * once the files are found); errors name the file.
 */
export async function loadPredictModel(runDir: string): Promise<PredictModel> {
  if (!existsSync(runDir)) throw new UsageError(`--model ${runDir}: run folder not found`);
  if (!statSync(runDir).isDirectory()) {
    throw new UsageError(`--model ${runDir}: is a file; give the run folder that holds it`);
  }
  const cfgPath = join(runDir, "config.json");
  const weights = join(runDir, "model.safetensors");
  for (const f of [cfgPath, weights]) {
    if (!existsSync(f)) {
      throw new Error(
        `${f}: missing (a run folder of train:nose, train:face or train:ibug holds config.json ` +
          `and model.safetensors)`,
      );
    }
  }
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await Deno.readTextFile(cfgPath));
  } catch (e) {
    throw new Error(`${cfgPath}: not valid JSON (${(e as Error).message})`);
  }
  const arch = config?.architecture;
  if (typeof arch !== "object" || arch === null) {
    throw new Error(`${cfgPath}: no "architecture" object`);
  }
  await initRuntime();
  let model: KeypointCnn | ResNet18;
  if (config.model === "ResNet18") {
    model = new ResNet18(arch as ResNet18Config);
  } else if (
    config.model === "KeypointCnn" || config.task === "nose" || config.task === "face"
  ) {
    model = new KeypointCnn(arch as KeypointCnnConfig);
  } else {
    throw new Error(
      `${cfgPath}: unknown model ${JSON.stringify(config.model ?? config.task)} ` +
        `(expected KeypointCnn for task nose/face, or ResNet18)`,
    );
  }
  try {
    await loadModel(weights, model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model: model.eval(), config };
}

/** Parses `--box x,y,w,h` (left, top, width, height in original pixels). */
export function parseBox(raw: string): CropBox {
  const v = raw.split(",").map(parseDecimal);
  if (v.length !== 4 || !v.every(Number.isFinite) || !(v[2] > 0 && v[3] > 0)) {
    throw new UsageError(
      `--box must be x,y,w,h (left, top, width, height in pixels; width and height > 0), ` +
        `got "${raw}"`,
    );
  }
  return { left: v[0], top: v[1], width: v[2], height: v[3] };
}

/** Face boxes of a dlib XML, found by resolved image path or, failing that, by file name. */
class BoxIndex {
  #byPath = new Map<string, CropBox[]>();
  #byName = new Map<string, Set<string>>();

  constructor(xmlPath: string, text: string) {
    for (const img of parseDlibXml(text, xmlPath)) {
      const path = resolve(dirname(xmlPath), img.file);
      const boxes = this.#byPath.get(path) ?? [];
      for (const b of img.boxes) {
        boxes.push({ left: b.left, top: b.top, width: b.width, height: b.height });
      }
      this.#byPath.set(path, boxes);
      const name = basename(img.file);
      this.#byName.set(name, (this.#byName.get(name) ?? new Set()).add(path));
    }
  }

  /** The boxes of `image`; throws naming the image when there are none or the name is ambiguous. */
  lookup(image: string, xmlPath: string): CropBox[] {
    let boxes = this.#byPath.get(resolve(image));
    if (!boxes) {
      const paths = this.#byName.get(basename(image));
      if (paths && paths.size > 1) {
        throw new Error(
          `${image}: ${paths.size} images named ${basename(image)} in ${xmlPath}; ` +
            `give the path the XML uses`,
        );
      }
      if (paths) boxes = this.#byPath.get([...paths][0]);
    }
    if (!boxes || boxes.length === 0) throw new Error(`${image}: no face box in ${xmlPath}`);
    return boxes;
  }
}

/** Reads and decodes one image; errors name the file. */
async function readImage(path: string): Promise<GrayImage> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  return await decodeImage(bytes, path);
}

/** SVG of `img` with `points` (continuous coordinates), embedded at most SVG_SIDE px wide/high. */
function overlaySvg(img: GrayImage, points: Float32Array, title: string): Promise<string> {
  const f = Math.min(1, SVG_SIDE / Math.max(img.width, img.height));
  const w = Math.max(1, Math.round(img.width * f)), h = Math.max(1, Math.round(img.height * f));
  const shown = w === img.width && h === img.height ? img : resizeImage(img, w, h);
  const sx = w / img.width, sy = h / img.height;
  const pred = points.map((v, k) => (k % 2 === 0 ? v * sx : v * sy));
  return keypointsSvg([{ image: shown, pred, title }], { scale: SVG_SIDE / Math.max(w, h) });
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Formats results as CSV: `image,point,x,y`, one row per point. */
export function formatResultsCsv(results: readonly PredictResult[]): string {
  const rows = ["image,point,x,y"];
  for (const r of results) {
    r.points.forEach(([x, y], k) => rows.push(`${csvField(r.image)},${k},${x},${y}`));
  }
  return rows.join("\n") + "\n";
}

/** Formats results as a JSON array with one result per line. */
export function formatResultsJson(results: readonly PredictResult[]): string {
  if (results.length === 0) return "[]\n";
  return `[\n${results.map((r) => `  ${JSON.stringify(r)}`).join(",\n")}\n]\n`;
}

/** Parses flags and runs the task. */
export async function main(args: string[]): Promise<void> {
  const { values, positionals: images } = parseFlags(
    args,
    ["model", "box", "labels", "out", "batch"],
    ["csv", "help"],
    Infinity,
  );
  if (values.help) return console.log(USAGE);
  if (typeof values.model !== "string" || images.length === 0) throw new UsageError(USAGE);
  if (values.box !== undefined && values.labels !== undefined) {
    throw new UsageError(`give either --box or --labels, not both\n${USAGE}`);
  }
  const fixedBox = typeof values.box === "string" ? parseBox(values.box) : null;
  const batch = numberFlag(values, "batch", 16, { min: 1, max: 1024, integer: true });
  const outDir = typeof values.out === "string" ? values.out : ".";
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) {
    throw new UsageError(`--out ${outDir}: is a file; give the folder for the SVGs`);
  }
  let boxIndex: BoxIndex | null = null;
  const labels = values.labels as string | undefined;
  if (labels !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(labels);
    } catch (e) {
      throw new UsageError(`--labels ${labels}: cannot read (${(e as Error).message})`);
    }
    boxIndex = new BoxIndex(labels, text);
  }

  const { model } = await loadPredictModel(values.model);
  const isResNet = model instanceof ResNet18;
  if (isResNet && !fixedBox && !boxIndex) {
    model.dispose();
    throw new UsageError(`a ResNet-18 model needs --box x,y,w,h or --labels FILE.xml\n${USAGE}`);
  }
  if (!isResNet && (fixedBox || boxIndex)) {
    model.dispose();
    throw new UsageError(
      "--box and --labels apply to ResNet-18 (train:ibug) models only; NoseNet and FaceNet " +
        "take the whole image",
    );
  }
  await Deno.mkdir(outDir, { recursive: true });

  const results: PredictResult[] = [];
  const failed: string[] = [];
  const svgNames = new Map<string, number>();
  const fail = (image: string, e: unknown) => {
    failed.push(image);
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  };
  try {
    for (let b = 0; b < images.length; b += batch) {
      // Decode one batch of files; faces (several per image with --labels) share one forward pass.
      const loaded: { path: string; img: GrayImage; boxes: (CropBox | undefined)[] }[] = [];
      for (const path of images.slice(b, b + batch)) {
        try {
          const img = await readImage(path);
          const boxes = boxIndex ? boxIndex.lookup(path, labels!) : [fixedBox ?? undefined];
          boxes.forEach((box, k) => {
            const problem = box ? boxImageProblem(box, img.width, img.height) : null;
            if (problem === null) return;
            const from = boxIndex ? `box #${k} for it in ${labels}` : "--box";
            throw new Error(`${path}: ${from}: ${problem}`);
          });
          loaded.push({ path, img, boxes });
        } catch (e) {
          fail(path, e);
        }
      }
      const faceImages = loaded.flatMap((l) => l.boxes.map(() => l.img));
      const faceBoxes = loaded.flatMap((l) => l.boxes) as CropBox[];
      const preds = await predictKeypoints(model, faceImages, {
        boxes: isResNet ? faceBoxes : undefined,
        batch,
      });
      let k = 0;
      for (const { path, img, boxes } of loaded) {
        const all: number[] = [];
        for (const box of boxes) {
          const p = preds[k++];
          const points: [number, number][] = [];
          for (let i = 0; i < p.length; i += 2) points.push([round3(p[i]), round3(p[i + 1])]);
          results.push({
            image: path,
            width: img.width,
            height: img.height,
            points,
            ...(box ? { box } : {}),
          });
          // The overlay draws continuous coordinates; annotation ones are half a pixel off.
          for (const v of p) all.push(isResNet ? v + 0.5 : v);
        }
        try {
          const name = basename(path);
          const seen = svgNames.get(name) ?? 0;
          svgNames.set(name, seen + 1);
          const file = join(outDir, `${seen ? `${name}.${seen + 1}` : name}.keypoints.svg`);
          writeFileAtomic(file, await overlaySvg(img, Float32Array.from(all), name));
        } catch (e) {
          fail(path, new Error(`${path}: cannot write the SVG overlay (${(e as Error).message})`));
        }
      }
    }
  } finally {
    model.dispose();
  }
  const text = values.csv ? formatResultsCsv(results) : formatResultsJson(results);
  const bytes = new TextEncoder().encode(text);
  for (let off = 0; off < bytes.length;) off += await Deno.stdout.write(bytes.subarray(off));
  if (failed.length > 0) {
    throw new Error(
      `${failed.length} of ${images.length} images failed: ${failed.join(", ")}`,
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args));

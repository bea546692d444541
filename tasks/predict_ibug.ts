/**
 * `deno task predict:ibug --model RUN_DIR --labels FILE.xml [--data DIR] [--out FILE.csv]`:
 * predicts 68 points for every face box of a dlib XML (a test list with boxes only is fine)
 * and writes a Kaggle-style CSV (`Id,Predicted`, original-image pixels, XML order) plus an SVG
 * of sample predictions next to it.
 * @module
 */

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { initRuntime } from "../nn/runtime.ts";
import { ResNet18, type ResNet18Config } from "../nn/models/resnet18.ts";
import { loadModel } from "../nn/serialize.ts";
import { loadIbugDataset } from "../data/ibug.ts";
import { pointsToOriginal } from "../data/face_crop.ts";
import { formatPredictionsCsv } from "../data/kaggle_csv.ts";
import { keypointsSvg } from "../plot/keypoints_svg.ts";
import { numberFlag, parseFlags, runMain, UsageError } from "./cli.ts";
import { writeFileAtomic } from "./run_files.ts";
import { predictFaces } from "./ibug_batches.ts";

/** Loads the ResNet-18 of a train:ibug run folder (config.json + model.safetensors). */
export async function loadIbugModel(runDir: string): Promise<ResNet18> {
  const cfgPath = join(runDir, "config.json");
  const weights = join(runDir, "model.safetensors");
  if (!existsSync(cfgPath) || !existsSync(weights)) {
    throw new Error(
      `${runDir}: not a train:ibug run folder (needs config.json and model.safetensors)`,
    );
  }
  let cfg;
  try {
    cfg = JSON.parse(await Deno.readTextFile(cfgPath));
  } catch (e) {
    throw new Error(`${cfgPath}: not valid JSON (${(e as Error).message})`);
  }
  if (cfg.model !== "ResNet18") throw new Error(`${cfgPath}: model is ${cfg.model}, not ResNet18`);
  const model = new ResNet18(cfg.architecture as ResNet18Config);
  await loadModel(weights, model);
  return model.eval();
}

/**
 * Predicts every face of `labels`; returns per face 68×2 original-image pixels. With `skipBad`,
 * faces whose image or box is bad are left out of `faces` and listed in `skipped`.
 */
export async function predictIbug(
  runDir: string,
  labels: string,
  opts: { batch?: number; workers?: number; cacheDir?: string; skipBad?: boolean } = {},
) {
  await initRuntime();
  const model = await loadIbugModel(runDir);
  const size = model.config.inputSize;
  const data = await loadIbugDataset(labels, {
    size,
    workers: opts.workers,
    cacheDir: opts.cacheDir,
    skipBad: opts.skipBad,
  });
  const rel = await predictFaces(model, data.faces, size, opts.batch ?? 32);
  const preds = data.faces.map((f, i) => pointsToOriginal(f.matrix, rel[i].map((v) => v * size)));
  model.dispose();
  return { faces: data.faces, preds, rel, skipped: data.skipped };
}

/** Parses flags and runs the task. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseFlags(args, ["model", "labels", "data", "out", "batch", "workers"], [
    "skip-bad",
    "help",
  ]);
  const usage = "usage: deno task predict:ibug --model RUN_DIR --labels FILE.xml [--data DIR] " +
    "[--out FILE.csv] [--batch N] [--workers N] [--skip-bad]";
  if (values.help) return console.log(usage);
  if (!values.model || !values.labels) throw new UsageError(usage);
  const tried = [
    values.labels as string,
    ...(values.data ? [join(values.data as string, values.labels as string)] : []),
  ];
  const labels = tried.find((c) => existsSync(c));
  if (!labels) {
    throw new UsageError(`--labels ${values.labels}: file not found (tried ${tried.join(", ")})`);
  }
  const batch = numberFlag(values, "batch", 32, { min: 1, max: 4096, integer: true });
  const workers = values.workers === undefined
    ? undefined
    : numberFlag(values, "workers", 0, { min: 0, max: 64, integer: true });
  const out = (values.out as string | undefined) ?? join(values.model as string, "predictions.csv");
  // Fail before the (long) prediction if the output cannot be written.
  if (existsSync(out) && Deno.statSync(out).isDirectory) {
    throw new UsageError(`--out ${out}: is a folder; give the CSV file to write`);
  }
  try {
    Deno.mkdirSync(dirname(out) || ".", { recursive: true });
  } catch (e) {
    throw new UsageError(`--out ${out}: cannot create its folder (${(e as Error).message})`);
  }
  const { faces, preds, rel, skipped } = await predictIbug(values.model as string, labels, {
    batch,
    workers,
    skipBad: Boolean(values["skip-bad"]),
  });
  for (const s of skipped) console.error(`skipped ${s.file}: ${s.reason}`);
  if (faces.length === 0) {
    throw new Error(
      skipped.length
        ? `${labels}: every face was skipped; nothing to predict`
        : `${labels}: lists no faces (no <box> in any <image>); nothing to predict`,
    );
  }
  // Skipped faces leave gaps of 136 Ids, so every other face keeps its XML position.
  writeFileAtomic(out, formatPredictionsCsv(preds, faces.map((f) => f.index)));
  const size = faces[0]?.size ?? 0;
  const panels = faces.slice(0, 8).map((f, i) => ({
    image: f.image,
    truth: f.points ?? undefined,
    pred: rel[i].map((v) => v * size),
    title: f.file,
  }));
  const svgPath = join(dirname(out), "predictions_sample.svg");
  if (panels.length) writeFileAtomic(svgPath, await keypointsSvg(panels));
  console.log(
    `${faces.length} faces → ${out} (${faces.length * 136} rows); sample plot ${svgPath}` +
      (skipped.length ? `; ${skipped.length} skipped (no rows for their Ids)` : ""),
  );
}

if (import.meta.main) await runMain(() => main(Deno.args));

/**
 * `deno task train:ibug`: trains ResNet-18 on 68-point iBUG 300-W faces (square crops around the
 * face boxes) with Adam and a cosine learning-rate decay. Resumable: a checkpoint is written
 * atomically after every epoch and when Ctrl-C stops the run mid-epoch.
 *
 * Usage: deno task train:ibug [--data DIR] [--labels FILE.xml] [--epochs N] [--lr X]
 *   [--batch N] [--seed N] [--size PX] [--limit N] [--val-split F] [--out DIR]
 *   [--resume RUN_DIR] [--loss mse|l1] [--targets standardized|raw] [--no-augment]
 *   [--skip-bad] [--workers N] [--cache DIR] [--quiet]
 * @module
 */

import { tunePending } from "../nn/autotune.ts";
import { useTuneCacheFile } from "../nn/tune_file.ts";
import { existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { initRuntime, rt } from "../nn/runtime.ts";
import { Tensor, tidy } from "../nn/tensor.ts";
import { ResNet18, type ResNet18Config } from "../nn/models/resnet18.ts";
import {
  type RegressionLoss,
  regressionLoss,
  regressionLossReference,
} from "../nn/ops/regression_loss.ts";
import { addInPlace } from "../nn/ops/elementwise.ts";
import { Adam } from "../nn/optim.ts";
import { saveModel } from "../nn/serialize.ts";
import { loadCheckpoint, readCheckpointPosition, saveCheckpoint } from "../nn/checkpoint.ts";
import { Rng } from "../data/rng.ts";
import { type IbugFace, loadIbugDataset, splitTrainVal } from "../data/ibug.ts";
import { pointsToOriginal } from "../data/face_crop.ts";
import { meanAbsCoordError, nme } from "../data/nme.ts";
import { createRunDir, MetricsCsv, type MetricsRow, writeFileAtomic } from "./run_files.ts";
import { numberFlag, parseFlags, runMain, UsageError } from "./cli.ts";
import { formatDuration, ProgressBar } from "./progress.ts";
import { writeRunPlots } from "./run_plots.ts";
import { cosineLrScale } from "./lr_schedule.ts";
import { fillBatch, predictFaces } from "./ibug_batches.ts";
import {
  fitTargetScaling,
  identityScaling,
  standardize,
  type TargetScaling,
  unstandardize,
  withFoldedHead,
} from "./ibug_targets.ts";

/** File names tried, in order, when `--labels` is not given. */
export const TRAIN_LABEL_NAMES = [
  "labels_300W_subset_train.xml",
  "labels_ibug_300W_train.xml",
];

/** Where to get the data, printed when it is missing. */
export const IBUG_DATA_HELP = "Get the 300-W faces with 68-point labels, e.g. dlib's " +
  "ibug_300W_large_face_landmark_dataset.tar.gz (http://dlib.net/files/data/), or from " +
  "https://ibug.doc.ic.ac.uk/resources/300-W/ (research use; cite Sagonas et al., " +
  '"300 Faces in-the-Wild Challenge", ICCV Workshops 2013). Pass the folder with ' +
  "--data DIR (or FACEKIT_IBUG_DATA=DIR) and the XML with --labels FILE.xml.";

/** Options of one run (the flags). */
export interface IbugTrainOptions {
  labels: string;
  epochs: number;
  lr: number;
  batch: number;
  seed: number;
  size: number;
  limit?: number;
  valSplit: number;
  augment: boolean;
  /** Training loss on the (standardised) coordinates. */
  loss: RegressionLoss;
  /** Learn standardised targets (see `ibug_targets.ts`) instead of raw crop coordinates. */
  standardizeTargets: boolean;
  skipBad: boolean;
  workers?: number;
  /** Folder for the decoded-crop cache (default `.cache/ibug`). */
  cacheDir?: string;
  out?: string;
  resume?: string;
  quiet?: boolean;
  /** Stop after this many optimizer steps in total, writing a mid-epoch checkpoint (tests). */
  stopAfterSteps?: number;
}

/** A deterministic seed for (run seed, epoch, item), so any step can be replayed on resume. */
function mixSeed(seed: number, epoch: number, item: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [epoch, item]) {
    h = Math.imul(h ^ v, 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

/**
 * Validation: the training loss (same kind and units), and predictions mapped back to original
 * pixels; NME (%) and MAE (px) per face.
 */
async function evaluate(
  model: ResNet18,
  faces: IbugFace[],
  size: number,
  batch: number,
  lossKind: RegressionLoss,
  scaling: TargetScaling,
) {
  const out = await predictFaces(model, faces, size, batch);
  const rel = out.map((z) => unstandardize(scaling, z));
  let loss = 0;
  faces.forEach((f, i) => {
    const target = Float64Array.from(
      f.points!,
      (v, k) => (v / size - scaling.mean[k]) / scaling.std,
    );
    loss += 136 * regressionLossReference(lossKind, Float64Array.from(out[i]), target);
  });
  const orig = faces.map((f, i) => pointsToOriginal(f.matrix, rel[i].map((v) => v * size)));
  const perFace = faces.map((f, i) => nme(orig[i], f.box.parts!));
  return {
    loss: loss / (faces.length * 136),
    nme: perFace.reduce((a, b) => a + b, 0) / faces.length,
    mae: meanAbsCoordError(orig, faces.map((f) => f.box.parts!)),
    perFace,
    relPreds: rel,
  };
}

const COLUMNS = [
  "epoch",
  "train_loss",
  "val_loss",
  "val_nme",
  "val_mae_px",
  "lr",
  "images_per_s",
  "seconds",
  "peak_rss_mb",
] as const;

/** Trains (or resumes) a run; returns the run folder and the last validation NME. */
export async function trainIbug(o: IbugTrainOptions): Promise<{ runDir: string; valNme: number }> {
  const log = o.quiet ? () => {} : (s: string) => console.log(s);
  const runtime = await initRuntime();
  useTuneCacheFile();
  const t0 = performance.now();
  const bar = new ProgressBar("preparing face crops", 1);
  const data = await loadIbugDataset(o.labels, {
    size: o.size,
    limit: o.limit,
    skipBad: o.skipBad,
    workers: o.workers,
    cacheDir: o.cacheDir,
    onProgress: (done, total) => {
      bar.total = total;
      bar.update(done);
    },
  });
  bar.clear();
  const missing = data.faces.filter((f) => !f.points);
  if (missing.length) {
    throw new Error(
      `${o.labels}: ${missing.length} faces have no <part> landmarks; need a training list`,
    );
  }
  const { train, val } = splitTrainVal(data.faces, o.valSplit);
  if (train.length === 0 || val.length === 0) {
    throw new Error(
      `${o.labels}: ${data.faces.length} faces split into ${train.length} train / ${val.length} ` +
        "validation; use more faces (--limit) or another --val-split",
    );
  }
  log(
    `facekit train:ibug — ${train.length} train / ${val.length} val faces at ${o.size}² ` +
      `(${data.stats.fromCache} from cache, ${data.stats.decoded} decoded, ${data.skipped.length} ` +
      `skipped, ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s); adapter: ${runtime.adapterName}`,
  );

  let scaling = o.standardizeTargets
    ? fitTargetScaling(train.map((f) => f.points!.map((v) => v / o.size)), 136)
    : identityScaling(136);
  const runDir = o.resume ?? createRunDir("ibug", o.out);
  const cfg: ResNet18Config = { inChannels: 1, inputSize: o.size, outputs: 136 };
  const model = new ResNet18(cfg, o.seed);
  const opt = new Adam(model.parameters(), { lr: o.lr });
  const ckptPath = join(runDir, "checkpoint.safetensors");
  const metrics = new MetricsCsv(join(runDir, "metrics.csv"), COLUMNS);
  let startEpoch = 1;
  let startStep = 0;
  let lossSoFar = 0;
  const config = {
    task: "ibug",
    model: "ResNet18",
    architecture: cfg,
    input: "gray (0.299R+0.587G+0.114B) square crop of side 1.4×max(box w, h) around the box " +
      "centre, bilinear, zero padding, pixels − 0.5",
    output: "68 × (x, y) in crop coordinates divided by the crop size",
    training: { ...o, resume: undefined },
    targetScaling: o.standardizeTargets ? scaling : null,
  };
  if (o.resume) {
    if (!existsSync(ckptPath)) {
      throw new Error(`--resume ${o.resume}: no checkpoint.safetensors there`);
    }
    const pos = await loadCheckpoint(ckptPath, model, opt);
    const saved = pos.extra as {
      options: IbugTrainOptions;
      rows: MetricsRow[];
      step: number;
      loss: number;
      scaling?: TargetScaling;
    };
    // Runs from before these options trained raw coordinates with MSE.
    const savedOptions = {
      ...saved.options,
      loss: saved.options.loss ?? "mse",
      standardizeTargets: saved.options.standardizeTargets ?? false,
    };
    const keys = [
      "size",
      "batch",
      "seed",
      "labels",
      "limit",
      "valSplit",
      "augment",
      "loss",
      "standardizeTargets",
    ] as const;
    for (const k of keys) {
      if (savedOptions[k] !== o[k]) {
        throw new Error(`--resume: the run used --${k} ${savedOptions[k]}, not ${o[k]}`);
      }
    }
    if (saved.scaling) scaling = saved.scaling;
    for (const r of saved.rows) metrics.append(r);
    startEpoch = pos.epoch + 1;
    startStep = saved.step;
    lossSoFar = saved.loss;
    log(`resuming ${runDir} at epoch ${startEpoch}, step ${startStep}`);
  } else {
    writeFileAtomic(join(runDir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  }
  log(`run folder: ${runDir} — ${model.parameterCount()} parameters`);

  let stop = false;
  const onSigint = () => {
    if (stop) Deno.exit(130);
    stop = true;
    console.error("\nCtrl-C: stopping after this step and writing a checkpoint (again to abort)");
  };
  Deno.addSignalListener("SIGINT", onSigint);
  const checkpoint = (epochDone: number, step: number, loss: number) =>
    saveCheckpoint(ckptPath, model, opt, {
      epoch: epochDone,
      steps: opt.steps,
      extra: { options: { ...o, resume: undefined }, rows: metrics.rows, step, loss, scaling },
    });

  const S = o.size;
  const lossSum = Tensor.from([0], [1]);
  const xBuf = new Float32Array(o.batch * S * S);
  const yBuf = new Float32Array(o.batch * 136);
  const nBatches = Math.ceil(train.length / o.batch);
  let last = { nme: NaN, perFace: [] as number[], relPreds: [] as Float32Array[] };
  try {
    let tuned = false; // tune kernels after the first step (speed only: results are identical)
    for (let epoch = startEpoch; epoch <= o.epochs; epoch++) {
      const epochStart = performance.now();
      const lrScale = cosineLrScale(epoch - 1, o.epochs);
      opt.setLrScale(lrScale);
      const order = train.map((_, i) => i);
      new Rng(mixSeed(o.seed, epoch, -1)).shuffle(order);
      const first = epoch === startEpoch ? startStep : 0;
      lossSum.write(new Float32Array([epoch === startEpoch ? lossSoFar : 0]));
      const progress = new ProgressBar(
        `epoch ${epoch}/${o.epochs}`,
        train.length,
        Math.min(first * o.batch, train.length),
      );
      let peakRss = Deno.memoryUsage().rss;
      const trainStart = performance.now();
      let seen = 0;
      for (let b = first; b < nBatches; b++) {
        const idx = order.slice(b * o.batch, (b + 1) * o.batch);
        fillBatch(
          train,
          idx,
          S,
          xBuf,
          yBuf,
          o.augment ? (i) => new Rng(mixSeed(o.seed, epoch, i)) : null,
        );
        if (o.standardizeTargets) standardize(scaling, yBuf.subarray(0, idx.length * 136));
        tidy(() => {
          const x = Tensor.from(xBuf.subarray(0, idx.length * S * S), [idx.length, 1, S, S]);
          const y = Tensor.from(yBuf.subarray(0, idx.length * 136), [idx.length, 136]);
          const loss = regressionLoss(o.loss, model.forward(x), y);
          addInPlace(lossSum, loss, idx.length);
          loss.backward();
        });
        opt.step();
        await rt().endStep(2);
        if (!tuned) await tunePending();
        tuned = true;
        seen += idx.length;
        peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
        progress.update(b * o.batch + idx.length);
        const limitHit = o.stopAfterSteps !== undefined && opt.steps >= o.stopAfterSteps;
        if ((stop || limitHit) && b + 1 < nBatches) {
          const partial = (await lossSum.read())[0];
          await checkpoint(epoch - 1, b + 1, partial);
          progress.clear();
          log(
            `stopped in epoch ${epoch} after step ${
              b + 1
            }/${nBatches}; resume with --resume ${runDir}`,
          );
          return { runDir, valNme: NaN };
        }
      }
      progress.clear();
      const trainLoss = (await lossSum.read())[0] / train.length;
      const trainSeconds = (performance.now() - trainStart) / 1000;
      if (!Number.isFinite(trainLoss)) {
        throw new Error(
          `training diverged in epoch ${epoch}: the training loss is ${trainLoss}. The checkpoint ` +
            `of the last finished epoch is kept in ${ckptPath}. Try a lower --lr (now ${o.lr}).`,
        );
      }
      const ev = await evaluate(model, val, S, o.batch, o.loss, scaling);
      last = ev;
      metrics.append({
        epoch,
        train_loss: trainLoss,
        val_loss: ev.loss,
        val_nme: ev.nme,
        val_mae_px: ev.mae,
        lr: o.lr * lrScale,
        images_per_s: seen / trainSeconds,
        seconds: (performance.now() - epochStart) / 1000,
        peak_rss_mb: peakRss / 2 ** 20,
      });
      await checkpoint(epoch, 0, 0);
      // The saved model outputs raw crop coordinates: the standardisation is folded into fc.
      await withFoldedHead(
        model.fc,
        scaling,
        () =>
          saveModel(join(runDir, "model.safetensors"), model, {
            format: "facekit",
            config: JSON.stringify(config),
            epoch: String(epoch),
          }),
      );
      const left = (o.epochs - epoch) * (performance.now() - epochStart) / 1000;
      log(
        `epoch ${epoch}/${o.epochs}  train ${trainLoss.toExponential(3)}  val ${
          ev.loss.toExponential(3)
        }  ` +
          `val NME ${ev.nme.toFixed(2)} %  MAE ${ev.mae.toFixed(2)} px  ` +
          `${(seen / trainSeconds).toFixed(2)} img/s  ETA ${formatDuration(left)}`,
      );
      if (stop) {
        log(`stopped after epoch ${epoch}; resume with --resume ${runDir}`);
        return { runDir, valNme: ev.nme };
      }
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
    lossSum.dispose();
  }

  const rows = metrics.rows;
  if (last.perFace.length === 0) {
    // Resumed after the last epoch had finished: evaluate once more for the plots.
    last = await evaluate(model, val, S, o.batch, o.loss, scaling);
  }
  await writeRunPlots({
    runDir,
    model,
    trainLosses: rows.map((r) => r.train_loss as number),
    valLosses: rows.map((r) => r.val_loss as number),
    samples: val.map((f) => ({
      name: basename(f.file).replace(/\.[^.]+$/, ""),
      image: f.image,
      points: f.points!.map((v) => v / S),
    })),
    pred: concat(last.relPreds),
    errors: { perSamplePx: last.perFace },
    errorUnit: "% NME",
    points: Array.from({ length: 68 }, (_, i) => i),
  });
  const summary = {
    task: "ibug",
    runDir: resolve(runDir),
    adapter: runtime.adapterName,
    labels: resolve(o.labels),
    trainFaces: train.length,
    valFaces: val.length,
    skipped: data.skipped,
    parameters: model.parameterCount(),
    final: rows.at(-1),
    options: o,
  };
  writeFileAtomic(join(runDir, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  log(`done — val NME ${last.nme.toFixed(2)} % — ${runDir}`);
  opt.dispose();
  model.dispose();
  return { runDir, valNme: last.nme };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Finds the training XML from `--labels` / `--data` / FACEKIT_IBUG_DATA / ./datasets. */
export function resolveIbugLabels(labels?: string, data?: string): string {
  if (labels) {
    const candidates = [labels, ...(data ? [join(data, labels)] : [])];
    const found = candidates.find((c) => existsSync(c));
    if (!found) {
      throw new Error(
        `--labels ${labels}: file not found (tried ${candidates.join(", ")}). ${IBUG_DATA_HELP}`,
      );
    }
    return found;
  }
  const dir = data ?? Deno.env.get("FACEKIT_IBUG_DATA") ?? "datasets/ibug_300w";
  if (existsSync(dir) && !Deno.statSync(dir).isDirectory) {
    throw new Error(`--data ${dir}: is a file; give the folder that holds the 300-W faces`);
  }
  for (const name of TRAIN_LABEL_NAMES) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(
    `no training labels (${TRAIN_LABEL_NAMES.join(" or ")}) in ${dir}. ${IBUG_DATA_HELP}`,
  );
}

/** `--loss`: the training loss (default mse). */
function lossFlag(v: string | undefined): RegressionLoss {
  if (v === undefined) return "mse";
  if (v !== "mse" && v !== "l1") throw new UsageError(`--loss ${v}: use mse or l1`);
  return v;
}

/**
 * `--targets`: learn standardised coordinates (the default) or raw ones. Standardised converge
 * much faster under Adam (see `ibug_targets.ts`): at 64², validation NME after 2 of 10 epochs
 * was 9.1 % against 15.0 % raw.
 */
function targetsFlag(v: string | undefined): boolean {
  if (v === undefined || v === "standardized") return true;
  if (v === "raw") return false;
  throw new UsageError(`--targets ${v}: use raw or standardized`);
}

function targetsName(o: Partial<IbugTrainOptions>): string {
  return o.standardizeTargets ? "standardized" : "raw";
}

/** Parses flags and runs the task. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseFlags(
    args,
    [
      "data",
      "labels",
      "epochs",
      "lr",
      "batch",
      "seed",
      "size",
      "limit",
      "val-split",
      "out",
      "resume",
      "workers",
      "cache",
      "loss",
      "targets",
    ],
    ["no-augment", "skip-bad", "quiet", "help"],
  );
  if (values.help) {
    return console.log(
      "usage: deno task train:ibug [--data DIR] [--labels FILE.xml] [--epochs N] [--lr X] " +
        "[--batch N] [--seed N] [--size PX] [--limit N] [--val-split F] [--out DIR] " +
        "[--resume RUN_DIR] [--loss mse|l1] [--targets standardized|raw] [--no-augment] [--skip-bad] " +
        "[--workers N] [--cache DIR] [--quiet]",
    );
  }
  if (values.resume && values.out) throw new UsageError("--resume and --out cannot be combined");
  const opts = {
    epochs: numberFlag(values, "epochs", 10, { min: 1, max: 10000, integer: true }),
    lr: numberFlag(values, "lr", 1e-3, { min: 1e-9, max: 10 }),
    batch: numberFlag(values, "batch", 32, { min: 1, max: 4096, integer: true }),
    seed: numberFlag(values, "seed", 0, { min: 0, max: 2 ** 31 - 1, integer: true }),
    size: numberFlag(values, "size", 224, { min: 32, max: 1024, integer: true }),
    limit: values.limit === undefined
      ? undefined
      : numberFlag(values, "limit", 0, { min: 2, max: 1e9, integer: true }),
    valSplit: numberFlag(values, "val-split", 0.1, { min: 0.001, max: 0.9 }),
    workers: values.workers === undefined
      ? undefined
      : numberFlag(values, "workers", 0, { min: 0, max: 64, integer: true }),
    augment: !values["no-augment"],
    loss: lossFlag(values.loss as string | undefined),
    standardizeTargets: targetsFlag(values.targets as string | undefined),
    skipBad: Boolean(values["skip-bad"]),
    out: values.out as string | undefined,
    cacheDir: values.cache as string | undefined,
    resume: values.resume as string | undefined,
    quiet: Boolean(values.quiet),
  };
  if (opts.resume) {
    // Resume with the saved run's options; flags given again must agree with them.
    const ck = join(opts.resume, "checkpoint.safetensors");
    if (!existsSync(opts.resume)) throw new UsageError(`--resume ${opts.resume}: folder not found`);
    if (!existsSync(ck)) {
      throw new UsageError(
        `--resume ${opts.resume}: no checkpoint.safetensors (not a train:ibug run?)`,
      );
    }
    const saved = (await readCheckpointPosition(ck)).extra.options as IbugTrainOptions;
    const given: [string, keyof IbugTrainOptions][] = [
      ["lr", "lr"],
      ["batch", "batch"],
      ["seed", "seed"],
      ["size", "size"],
      ["limit", "limit"],
      ["val-split", "valSplit"],
    ];
    for (const [flag, key] of given) {
      if (values[flag] !== undefined && opts[key as keyof typeof opts] !== saved[key]) {
        throw new UsageError(`--resume: the run used --${flag} ${saved[key]}, not ${values[flag]}`);
      }
    }
    // Runs from before --loss and --targets trained raw coordinates with MSE.
    const savedLoss = saved.loss ?? "mse";
    if (values.loss !== undefined && opts.loss !== savedLoss) {
      throw new UsageError(`--resume: the run used --loss ${savedLoss}, not ${values.loss}`);
    }
    if (values.targets !== undefined && opts.standardizeTargets !== !!saved.standardizeTargets) {
      throw new UsageError(`--resume: the run used --targets ${targetsName(saved)}`);
    }
    if (values["skip-bad"] && !saved.skipBad) {
      throw new UsageError(
        "--resume: the run was started without --skip-bad; skipping bad faces now could change " +
          "its data set, so start a new run with --skip-bad instead",
      );
    }
    if (values["no-augment"] && saved.augment) {
      throw new UsageError("--resume: the run used augmentation; drop --no-augment");
    }
    if (values.labels || values.data) {
      const l = resolve(
        resolveIbugLabels(values.labels as string | undefined, values.data as string | undefined),
      );
      if (l !== saved.labels) {
        throw new UsageError(`--resume: the run used --labels ${saved.labels}`);
      }
    }
    await trainIbug({
      ...saved,
      loss: savedLoss,
      standardizeTargets: !!saved.standardizeTargets,
      epochs: values.epochs === undefined ? saved.epochs : opts.epochs,
      workers: opts.workers,
      cacheDir: opts.cacheDir ?? saved.cacheDir,
      quiet: opts.quiet,
      out: undefined,
      stopAfterSteps: undefined,
      resume: opts.resume,
    });
    return;
  }
  const labels = resolveIbugLabels(
    values.labels as string | undefined,
    values.data as string | undefined,
  );
  await trainIbug({ ...opts, labels: resolve(labels) });
}

if (import.meta.main) await runMain(() => main(Deno.args));

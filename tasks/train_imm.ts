/**
 * `deno task train:nose` / `deno task train:face`: trains NoseNet or FaceNet on the IMM Face
 * Database and writes a run folder (weights, config, metrics, plots, summary).
 *
 * Usage: deno run -A tasks/train_imm.ts nose|face [--data DIR] [--epochs N] [--lr X]
 *        [--batch N] [--seed N] [--out DIR] [--augment | --no-augment] [--quiet]
 * @module
 */

import { tunePending } from "../nn/autotune.ts";
import { useTuneCacheFile } from "../nn/tune_file.ts";
import { join, resolve } from "node:path";
import { initRuntime, rt } from "../nn/runtime.ts";
import { Tensor, tidy } from "../nn/tensor.ts";
import {
  FACENET,
  KeypointCnn,
  type KeypointCnnConfig,
  NOSENET,
} from "../nn/models/keypoint_cnn.ts";
import { addInPlace, fillInPlace } from "../nn/ops/elementwise.ts";
import { Adam } from "../nn/optim.ts";
import { saveModel } from "../nn/serialize.ts";
import { Rng } from "../data/rng.ts";
import { type ImmSample, loadImmDataset, toModelInput } from "../data/imm.ts";
import { resolveImmDir } from "../data/fetch_imm.ts";
import { augment } from "../data/augment.ts";
import { IMM_FLIP_PERMUTATION } from "../data/keypoints.ts";
import { createRunDir, MetricsCsv, writeFileAtomic } from "./run_files.ts";
import { numberFlag, parseFlags, runMain, UsageError } from "./cli.ts";
import { formatDuration, ProgressBar } from "./progress.ts";
import { predictAll } from "./predict_batches.ts";
import { cosineLrScale } from "./lr_schedule.ts";
import { type KeypointErrors, keypointErrors } from "./keypoint_metrics.ts";
import { writeRunPlots } from "./run_plots.ts";

/** IMM images are 640×480; pixel errors are reported in these original-image pixels. */
const IMM_WIDTH = 640;
const IMM_HEIGHT = 480;
/** The nose tip's index among the 58 IMM points. */
export const NOSE_TIP = 52;

/** What distinguishes the two IMM tasks. */
export interface ImmTask {
  name: "nose" | "face";
  model: KeypointCnnConfig;
  epochs: number;
  augment: boolean;
  /** Indices of the IMM points the model predicts. */
  points: number[];
}

/** The two IMM tasks with their default recipes. */
export const IMM_TASKS: Record<"nose" | "face", ImmTask> = {
  nose: { name: "nose", model: NOSENET, epochs: 25, augment: false, points: [NOSE_TIP] },
  face: {
    name: "face",
    model: FACENET,
    epochs: 30,
    augment: true,
    points: Array.from({ length: 58 }, (_, i) => i),
  },
};

/** Options of one training run (the command-line flags). */
export interface TrainOptions {
  task: ImmTask;
  dataDir: string;
  epochs: number;
  lr: number;
  batch: number;
  seed: number;
  augment: boolean;
  /** "constant" keeps `lr` (the default recipe); "cosine" decays it per epoch towards 0. */
  lrSchedule: "cosine" | "constant";
  out?: string;
  quiet?: boolean;
}

/** Result of {@link trainImm}: the run folder and the final validation numbers. */
export interface TrainResult {
  runDir: string;
  valLoss: number;
  valPxError: number;
  imagesPerSecond: number;
}

/** Validation MSE of predicting, for every face, the mean training targets. */
export function meanPositionMse(
  task: ImmTask,
  train: readonly { points: Float32Array }[],
  val: readonly { points: Float32Array }[],
): number {
  const k = 2 * task.points.length;
  const t = new Float32Array(k);
  const mean = new Float64Array(k);
  for (const s of train) {
    targetsOf(task, s.points, t, 0);
    for (let i = 0; i < k; i++) mean[i] += t[i] / train.length;
  }
  let sum = 0;
  for (const s of val) {
    targetsOf(task, s.points, t, 0);
    for (let i = 0; i < k; i++) sum += (t[i] - mean[i]) ** 2;
  }
  return sum / (val.length * k);
}

/** Targets of one sample: the task's points, interleaved x, y, relative to the image size. */
function targetsOf(task: ImmTask, points: Float32Array, out: Float32Array, at: number): void {
  task.points.forEach((p, k) => {
    out[at + 2 * k] = points[2 * p];
    out[at + 2 * k + 1] = points[2 * p + 1];
  });
}

/** Packs samples into one input array [N,1,H,W] and one target array [N, outputs]. */
function packSamples(
  task: ImmTask,
  samples: ImmSample[],
  order: number[],
  rng: Rng | null,
): { x: Float32Array; y: Float32Array } {
  const { inputWidth: w, inputHeight: h, outputs } = task.model;
  const x = new Float32Array(order.length * w * h);
  const y = new Float32Array(order.length * outputs);
  const px = new Float32Array(58 * 2);
  order.forEach((idx, i) => {
    const s = samples[idx];
    let image = s.image;
    let points = s.points;
    if (rng) {
      for (let k = 0; k < 58; k++) {
        px[2 * k] = s.points[2 * k] * w;
        px[2 * k + 1] = s.points[2 * k + 1] * h;
      }
      // Shifts are ±10 px at FaceNet's 160×120 input and scale with smaller inputs.
      const a = augment(s.image, px, rng, {
        flipPermutation: IMM_FLIP_PERMUTATION,
        shiftX: (10 * w) / 160,
        shiftY: (10 * h) / 120,
      });
      image = a.image;
      points = a.points.map((v, k) => (k % 2 === 0 ? v / w : v / h));
    }
    toModelInput(image, x.subarray(i * w * h, (i + 1) * w * h));
    targetsOf(task, points, y, i * outputs);
  });
  return { x, y };
}

/** Trains one model; prints one line per epoch; returns the final validation numbers. */
export async function trainImm(o: TrainOptions): Promise<TrainResult> {
  const { task } = o;
  const log = o.quiet ? () => {} : (s: string) => console.log(s);
  const runtime = await initRuntime();
  useTuneCacheFile();
  const { inputWidth: W, inputHeight: H, outputs } = task.model;
  const t0 = performance.now();
  const data = await loadImmDataset(o.dataDir, { width: W, height: H });
  log(
    `facekit train:${task.name} — ${data.train.length} train / ${data.val.length} val images ` +
      `from ${o.dataDir} (loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s); ` +
      `adapter: ${runtime.adapterName}`,
  );
  if (data.train.length === 0 || data.val.length === 0) {
    throw new Error(`${o.dataDir}: need both training (people 1–32) and validation (33–40) images`);
  }
  const runDir = createRunDir(`${task.name}`, o.out);
  const model = new KeypointCnn(task.model, o.seed);
  const opt = new Adam(model.parameters(), { lr: o.lr });
  const config = {
    task: task.name,
    model: "KeypointCnn",
    architecture: task.model,
    points: task.points,
    input: "gray (0.299R+0.587G+0.114B), area-resized to width×height, pixels − 0.5",
    output: "x, y per point, relative to image width/height (0..1)",
    training: {
      epochs: o.epochs,
      lr: o.lr,
      lrSchedule: o.lrSchedule,
      batch: o.batch,
      seed: o.seed,
      augment: o.augment,
    },
  };
  writeFileAtomic(join(runDir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  log(`run folder: ${runDir} — ${model.parameterCount()} parameters`);

  const columns = ["epoch", "train_loss", "val_loss", "val_px_error", "images_per_s", "seconds"];
  const metrics = new MetricsCsv(join(runDir, "metrics.csv"), columns);
  const rng = new Rng(o.seed ^ 0x5eed);
  const valIdx = data.val.map((_, i) => i);
  const valPacked = packSamples(task, data.val, valIdx, null);
  const valX = Tensor.from(valPacked.x, [data.val.length, 1, H, W]);
  const lossSum = Tensor.from([0], [1]);
  const trainLosses: number[] = [];
  const valLosses: number[] = [];
  let last: KeypointErrors | null = null;
  let lastPred: Float32Array | null = null;
  let imagesPerSecond = 0;
  const runStart = performance.now();
  const n = data.train.length;
  const plane = W * H;

  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const epochStart = performance.now();
    if (o.lrSchedule === "cosine") opt.setLrScale(cosineLrScale(epoch - 1, o.epochs));
    const order = data.train.map((_, i) => i);
    rng.shuffle(order);
    const packed = packSamples(task, data.train, order, o.augment ? rng : null);
    const xAll = Tensor.from(packed.x, [n, 1, H, W]);
    const yAll = Tensor.from(packed.y, [n, outputs]);
    fillInPlace(lossSum, 0);
    const bar = new ProgressBar(`epoch ${epoch}/${o.epochs}`, n);
    const trainStart = performance.now();
    for (let b = 0; b < n; b += o.batch) {
      const bs = Math.min(o.batch, n - b);
      tidy(() => {
        const x = Tensor.empty([bs, 1, H, W]);
        const y = Tensor.empty([bs, outputs]);
        rt().copy(xAll.buffer, xAll.offset + b * plane * 4, x.buffer, x.offset, bs * plane * 4);
        rt().copy(yAll.buffer, yAll.offset + b * outputs * 4, y.buffer, y.offset, bs * outputs * 4);
        const loss = model.mseLoss(x, y);
        // Summed on the GPU, weighted by batch size; read once per epoch.
        addInPlace(lossSum, loss, bs);
        loss.backward();
      });
      opt.step();
      await rt().endStep();
      if (b === 0 && epoch === 1) await tunePending();
      bar.update(b + bs);
    }
    const trainLoss = (await lossSum.read())[0] / n;
    const trainSeconds = (performance.now() - trainStart) / 1000;
    xAll.dispose();
    yAll.dispose();
    bar.clear();
    if (!Number.isFinite(trainLoss)) {
      throw new Error(
        `training diverged in epoch ${epoch}: the training loss is ${trainLoss}. ` +
          (epoch > 1
            ? `The checkpoint of epoch ${epoch - 1} is kept in ${runDir}/model.safetensors. `
            : "") +
          `Try a lower --lr (now ${o.lr}).`,
      );
    }
    imagesPerSecond = n / trainSeconds;

    const pred = await predictAll(model, valX, 16);
    const errs = keypointErrors(pred, valPacked.y, data.val.length, IMM_WIDTH, IMM_HEIGHT);
    last = errs;
    lastPred = pred;
    trainLosses.push(trainLoss);
    valLosses.push(errs.mse);
    await saveModel(join(runDir, "model.safetensors"), model, {
      format: "facekit",
      config: JSON.stringify(config),
      epoch: String(epoch),
    });
    const seconds = (performance.now() - epochStart) / 1000;
    metrics.append({
      epoch,
      train_loss: trainLoss,
      val_loss: errs.mse,
      val_px_error: errs.meanPx,
      images_per_s: imagesPerSecond,
      seconds,
    });
    const elapsed = (performance.now() - runStart) / 1000;
    const eta = (elapsed / epoch) * (o.epochs - epoch);
    log(
      `epoch ${String(epoch).padStart(String(o.epochs).length)}/${o.epochs}  ` +
        `train ${trainLoss.toExponential(3)}  val ${errs.mse.toExponential(3)}  ` +
        `val px err ${errs.meanPx.toFixed(2)}  ${imagesPerSecond.toFixed(1)} img/s  ` +
        `ETA ${formatDuration(eta)}`,
    );
  }

  await writeRunPlots({
    runDir,
    model,
    trainLosses,
    valLosses,
    samples: data.val,
    pred: lastPred!,
    errors: last!,
    points: task.points,
  });
  const summary = {
    task: task.name,
    runDir: resolve(runDir),
    adapter: runtime.adapterName,
    dataDir: resolve(o.dataDir),
    trainImages: n,
    valImages: data.val.length,
    epochs: o.epochs,
    parameters: model.parameterCount(),
    final: {
      trainLoss: trainLosses.at(-1),
      valLoss: last!.mse,
      valPxError: last!.meanPx,
      valPxErrorUnit: `pixels of the original ${IMM_WIDTH}×${IMM_HEIGHT} image`,
    },
    bestValLoss: Math.min(...valLosses),
    bestEpoch: valLosses.indexOf(Math.min(...valLosses)) + 1,
    imagesPerSecond,
    seconds: (performance.now() - t0) / 1000,
    options: { ...o, task: task.name },
  };
  writeFileAtomic(join(runDir, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  log(
    `done in ${formatDuration(summary.seconds)} — val MSE ${last!.mse.toExponential(3)}, ` +
      `mean error ${last!.meanPx.toFixed(2)} px (640×480) — ${runDir}`,
  );
  // A diverged run still ends with finite numbers: say so when the model does worse than
  // predicting the mean training position for every face.
  const baseline = meanPositionMse(task, data.train, data.val);
  if (!(last!.mse <= baseline)) {
    console.error(
      `warning: val MSE ${last!.mse.toExponential(3)} is worse than predicting the mean ` +
        `training position (${baseline.toExponential(3)}): the run did not learn (too high --lr?)`,
    );
  }
  valX.dispose();
  lossSum.dispose();
  opt.dispose();
  model.dispose();
  return { runDir, valLoss: last!.mse, valPxError: last!.meanPx, imagesPerSecond };
}

function lrScheduleFlag(v: unknown): "cosine" | "constant" {
  if (v === undefined) return "constant";
  if (v === "cosine" || v === "constant") return v;
  throw new UsageError(`--lr-schedule must be "cosine" or "constant", got "${v}"`);
}

/** Parses flags and runs the task. */
export async function main(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags(
    args,
    ["data", "epochs", "lr", "batch", "seed", "out", "lr-schedule"],
    ["augment", "no-augment", "quiet", "help"],
    1,
  );
  const name = positionals[0];
  if (values.help || (name !== "nose" && name !== "face")) {
    const msg = "usage: deno run -A tasks/train_imm.ts nose|face [--data DIR] [--epochs N] " +
      "[--lr X] [--lr-schedule cosine|constant] [--batch N] [--seed N] [--out DIR] " +
      "[--augment|--no-augment] [--quiet]";
    if (values.help) return console.log(msg);
    throw new UsageError(`${name ? `unknown task "${name}"; ` : ""}${msg}`);
  }
  const task = IMM_TASKS[name];
  if (values.augment && values["no-augment"]) {
    throw new UsageError("--augment and --no-augment contradict each other");
  }
  // Validate every flag before the (possibly slow) data lookup.
  const opts = {
    task,
    epochs: numberFlag(values, "epochs", task.epochs, { min: 1, max: 100000, integer: true }),
    lr: numberFlag(values, "lr", 1e-3, { min: 1e-9, max: 10 }),
    batch: numberFlag(values, "batch", 1, { min: 1, max: 192, integer: true }),
    seed: numberFlag(values, "seed", 0, { min: 0, max: 2 ** 31 - 1, integer: true }),
    augment: values["no-augment"] ? false : values.augment ? true : task.augment,
    lrSchedule: lrScheduleFlag(values["lr-schedule"]),
    out: values.out as string | undefined,
    quiet: values.quiet as boolean | undefined,
  };
  const dataDir = await resolveImmDir({ data: values.data as string | undefined });
  await trainImm({ ...opts, dataDir });
}

if (import.meta.main) await runMain(() => main(Deno.args));

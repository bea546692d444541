/**
 * `deno task bench`: measures, on this machine's WebGPU adapter, an FMA compute ceiling, GEMM
 * GFLOP/s (1024³ and the models' shapes), and training/inference images/s of NoseNet, FaceNet
 * (batch 1) and ResNet-18 (batch 32 at 112² and 224²), each next to TensorFlow.js's WebGPU
 * backend on the same adapter; prints a table and writes bench/results.json.
 *
 * Each figure is the median over several timed windows after warm-up; a window ends with a
 * queue wait so the GPU's work is included. Startup (shader compilation, first steps) is
 * reported separately.
 *
 * Usage: deno task bench [--windows N] [--steps N] [--out FILE] [--no-tfjs] [--no-resnet]
 *   [--tfjs-limit S]
 * @module
 */

import { autotuner, tunePending } from "../nn/autotune.ts";
import { useTuneCacheFile } from "../nn/tune_file.ts";
import { dirname } from "node:path";
import { initRuntime, rt } from "../nn/runtime.ts";
import { noGrad, Tensor, tidy } from "../nn/tensor.ts";
import { FACENET, KeypointCnn, NOSENET } from "../nn/models/keypoint_cnn.ts";
import { mseLoss } from "../nn/ops/regression_loss.ts";
import { gemm } from "../nn/ops/linear.ts";
import { Adam } from "../nn/optim.ts";
import { ResNet18 } from "../nn/models/resnet18.ts";
import type { Module } from "../nn/module.ts";
import { kernel, params } from "../nn/kernel.ts";
import probeSrc from "../shaders/fma_probe.wgsl" with { type: "text" };
import { Rng } from "../data/rng.ts";
import { benchTfjs, TFJS_VERSION, type TfjsNet } from "./bench_tfjs.ts";
import { numberFlag, parseFlags, runMain } from "./cli.ts";
import { writeFileAtomic } from "./run_files.ts";

/** One benchmark line. */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  dispatchesPerStep?: number;
  submitsPerStep?: number;
  startupSeconds?: number;
  /** Fraction of the FMA-probe ceiling (GFLOP/s rows). */
  ofCeiling?: number;
  /** TF.js WebGPU on the same adapter (images/s), null when it did not finish. */
  tfjs?: number | null;
  /** facekit / TF.js. */
  ratio?: number | null;
  /** Peak resident memory of the process after this benchmark (MiB). */
  peakRssMiB?: number;
  note?: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function randomTensor(shape: number[], rng: Rng): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = rng.uniform(-0.5, 0.5);
  return Tensor.from(d, shape);
}

/** Times `step` in `windows` windows of `steps` calls; returns the median seconds per call. */
async function timeSteps(step: () => void, windows: number, steps: number) {
  const per: number[] = [];
  const s0 = rt().stats();
  for (let w = 0; w < windows; w++) {
    await rt().sync();
    const t = performance.now();
    for (let i = 0; i < steps; i++) {
      step();
      await rt().endStep();
    }
    await rt().sync();
    per.push((performance.now() - t) / 1000 / steps);
  }
  const s1 = rt().stats();
  const calls = windows * steps;
  return {
    seconds: median(per),
    dispatches: (s1.dispatches - s0.dispatches) / calls,
    submits: (s1.submits - s0.submits) / calls,
  };
}

async function benchNetwork(
  name: string,
  make: () => Module,
  inputShape: number[],
  outputs: number,
  windows: number,
  steps: number,
): Promise<BenchRow[]> {
  const rng = new Rng(1);
  const batch = inputShape[0];
  const t0 = performance.now();
  const model = make();
  const opt = new Adam(model.parameters());
  const x = randomTensor(inputShape, rng);
  const y = randomTensor([batch, outputs], rng);
  const step = () => {
    // The IMM networks' own loss fuses their head at batch 1 (as train:nose / train:face run).
    tidy(() =>
      (model instanceof KeypointCnn ? model.mseLoss(x, y) : mseLoss(model.forward(x), y))
        .backward()
    );
    opt.step();
  };
  step(); // compiles every pipeline
  await tunePending();
  await rt().sync();
  const startup = (performance.now() - t0) / 1000;
  const train = await timeSteps(step, windows, steps);
  model.eval();
  const infer = await timeSteps(
    () => noGrad(() => tidy(() => void model.forward(x))),
    windows,
    steps,
  );
  const rss = Deno.memoryUsage().rss / 2 ** 20;
  opt.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
  return [
    {
      name: `${name} train`,
      value: batch / train.seconds,
      unit: "images/s",
      dispatchesPerStep: train.dispatches,
      submitsPerStep: train.submits,
      startupSeconds: startup,
      peakRssMiB: rss,
    },
    {
      name: `${name} inference`,
      value: batch / infer.seconds,
      unit: "images/s",
      dispatchesPerStep: infer.dispatches,
      submitsPerStep: infer.submits,
    },
  ];
}

const PROBE = kernel("fma_probe", probeSrc);

/** The adapter's f32 FMA throughput on registers: the ceiling kernels are compared with. */
async function fmaCeiling(): Promise<BenchRow> {
  const threads = 64 * 1024;
  const iters = 4096;
  const out = Tensor.empty([threads]);
  const run = () => rt().dispatch(PROBE, [out.binding], threads, params([threads, iters]));
  run();
  await rt().sync();
  const r = await timeSteps(run, 3, 1);
  out.dispose();
  return {
    name: "FMA probe (compute ceiling)",
    value: (threads * iters * 64) / r.seconds / 1e9,
    unit: "GFLOP/s",
  };
}

async function benchGemm(m: number, k: number, n: number, label: string, windows: number) {
  const rng = new Rng(2);
  const a = randomTensor([m, k], rng);
  const b = randomTensor([k, n], rng);
  const c = Tensor.empty([m, n]);
  const run = () => void gemm(m, n, k, { t: a, sr: k, sc: 1 }, { t: b, sr: n, sc: 1 }, { out: c });
  run();
  await tunePending(); // as the training tasks do after their first step
  await rt().sync();
  // At least 4 back-to-back GEMMs per window, so the window's closing wait for the GPU (one
  // ~12 ms round trip here) is not charged to a single 1024³ product.
  const reps = Math.max(4, Math.min(200, Math.round(2e8 / (m * n * k))));
  const r = await timeSteps(run, windows, reps);
  for (const t of [a, b, c]) t.dispose();
  return {
    name: `GEMM ${m}×${k}×${n} ${label}`,
    value: (2 * m * n * k) / r.seconds / 1e9,
    unit: "GFLOP/s",
  };
}

/** Runs every benchmark and writes the JSON report. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseFlags(args, ["windows", "steps", "out", "tfjs-limit"], [
    "no-tfjs",
    "no-resnet",
    "help",
  ]);
  if (values.help) {
    return console.log(
      "usage: deno task bench [--windows N] [--steps N] [--out FILE] [--no-tfjs] [--no-resnet] " +
        "[--tfjs-limit S]",
    );
  }
  const windows = numberFlag(values, "windows", 5, { min: 1, max: 100, integer: true });
  const steps = numberFlag(values, "steps", 20, { min: 1, max: 10000, integer: true });
  const tfjsLimit = numberFlag(values, "tfjs-limit", 190, { min: 1, max: 36000 });
  const out = (values.out as string | undefined) ?? "bench/results.json";
  const runtime = await initRuntime();
  useTuneCacheFile();
  console.log(`facekit bench — adapter: ${runtime.adapterName}`);
  const rows: BenchRow[] = [];
  const show = (r: BenchRow) => {
    rows.push(r);
    const parts = [`${r.name.padEnd(40)} ${r.value.toFixed(2).padStart(9)} ${r.unit}`];
    if (r.ofCeiling !== undefined) parts.push(`${(100 * r.ofCeiling).toFixed(0)}% of ceiling`);
    if (r.dispatchesPerStep !== undefined) {
      parts.push(
        `${r.dispatchesPerStep.toFixed(0)} dispatches, ${
          r.submitsPerStep!.toFixed(2)
        } submits/step`,
      );
    }
    if (r.startupSeconds !== undefined) parts.push(`startup ${r.startupSeconds.toFixed(2)} s`);
    if (r.peakRssMiB !== undefined) parts.push(`rss ${r.peakRssMiB.toFixed(0)} MiB`);
    if (r.tfjs !== undefined) {
      parts.push(
        r.tfjs === null
          ? `TF.js: ${r.note}`
          : `TF.js ${r.tfjs.toFixed(2)} → ×${r.ratio!.toFixed(1)}`,
      );
    }
    console.log(parts.join("  "));
  };
  const ceiling = await fmaCeiling();
  show(ceiling);
  const gemmRows = [
    await benchGemm(1024, 1024, 1024, "(square)", Math.min(windows, 3)),
    await benchGemm(32, 512, 136, "(ResNet fc, batch 32)", windows),
    await benchGemm(1, 1280, 64, "(NoseNet fc1, batch 1)", windows),
    await benchGemm(1, 96, 256, "(FaceNet fc1, batch 1)", windows),
  ];
  for (const g of gemmRows) show({ ...g, ofCeiling: g.value / ceiling.value });

  const nets: {
    name: string;
    tf: TfjsNet;
    make: () => Module;
    shape: number[];
    outputs: number;
    size?: number;
  }[] = [
    {
      name: "NoseNet (batch 1)",
      tf: "nosenet",
      make: () => new KeypointCnn(NOSENET),
      shape: [1, 1, 60, 80],
      outputs: 2,
    },
    {
      name: "FaceNet (batch 1)",
      tf: "facenet",
      make: () => new KeypointCnn(FACENET),
      shape: [1, 1, 120, 160],
      outputs: 116,
    },
  ];
  if (!values["no-resnet"]) {
    for (const size of [112, 224]) {
      nets.push({
        name: `ResNet-18 (batch 32, ${size}²)`,
        tf: "resnet18",
        make: () => new ResNet18({ inChannels: 1, inputSize: size, outputs: 136 }),
        shape: [32, 1, size, size],
        outputs: 136,
        size,
      });
    }
  }
  for (const net of nets) {
    const big = net.shape[0] > 1;
    const [train, infer] = await benchNetwork(
      net.name,
      net.make,
      net.shape,
      net.outputs,
      // ResNet-18: the median of 3 single-step windows (one step takes seconds; a single one
      // is at the mercy of a busy moment on a shared machine).
      big ? 3 : windows,
      big ? 1 : steps,
    );
    if (!values["no-tfjs"]) {
      const tf = await benchTfjs(net.tf, {
        batch: net.shape[0],
        size: net.size,
        windows: big ? 1 : 3,
        steps: big ? 1 : 10,
        timeLimitS: tfjsLimit,
      });
      train.tfjs = tf.trainImagesPerS;
      train.ratio = tf.trainImagesPerS ? train.value / tf.trainImagesPerS : null;
      infer.tfjs = tf.inferImagesPerS;
      infer.ratio = tf.inferImagesPerS ? infer.value / tf.inferImagesPerS : null;
      train.note = infer.note = tf.note;
    }
    show(train);
    show(infer);
  }
  const report = {
    date: new Date().toISOString(),
    adapter: runtime.adapterName,
    fallbackAdapter: runtime.isFallback,
    deno: Deno.version.deno,
    tfjs: values["no-tfjs"] ? null : TFJS_VERSION,
    method: `median of ${windows} windows × ${steps} steps after warm-up (batch-32 ResNet: one ` +
      "timed step after one warm-up step); a window ends with a queue wait",
    autotune: { cache: autotuner().store?.where ?? null, choices: autotuner().choices },
    rows,
  };
  Deno.mkdirSync(dirname(out), { recursive: true });
  writeFileAtomic(out, JSON.stringify(report, null, 2) + "\n");
  const tuned = Object.entries(autotuner().choices).map(([k, v]) => `${k} → ${v}`);
  console.log(
    `autotuned kernels (${autotuner().store?.where ?? "memory only"}): ${
      tuned.join(", ") || "none"
    }`,
  );
  console.log(`wrote ${out}`);
}

if (import.meta.main) await runMain(() => main(Deno.args));

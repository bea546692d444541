/**
 * `deno task bench`: measures training and inference speed of the IMM networks and the GEMM
 * kernel on this machine's WebGPU adapter, prints a table and writes bench/results.json.
 *
 * Each figure is the median over several timed windows after warm-up; a window ends with a
 * queue wait so the GPU's work is included. Startup (shader compilation, first steps) is
 * reported separately.
 *
 * Usage: deno task bench [--windows N] [--steps N] [--out FILE]
 * @module
 */

import { dirname } from "node:path";
import { initRuntime, rt } from "../nn/runtime.ts";
import { noGrad, Tensor, tidy } from "../nn/tensor.ts";
import {
  FACENET,
  KeypointCnn,
  type KeypointCnnConfig,
  NOSENET,
} from "../nn/models/keypoint_cnn.ts";
import { mseLoss } from "../nn/ops/mse_loss.ts";
import { gemm } from "../nn/ops/linear.ts";
import { Adam } from "../nn/optim.ts";
import { Rng } from "../data/rng.ts";
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
  cfg: KeypointCnnConfig,
  batch: number,
  windows: number,
  steps: number,
): Promise<BenchRow[]> {
  const rng = new Rng(1);
  const t0 = performance.now();
  const model = new KeypointCnn(cfg, 0);
  const opt = new Adam(model.parameters());
  const x = randomTensor([batch, 1, cfg.inputHeight, cfg.inputWidth], rng);
  const y = randomTensor([batch, cfg.outputs], rng);
  const step = () => {
    tidy(() => mseLoss(model.forward(x), y).backward());
    opt.step();
  };
  for (let i = 0; i < 3; i++) step(); // compiles every pipeline
  await rt().sync();
  const startup = (performance.now() - t0) / 1000;
  const train = await timeSteps(step, windows, steps);
  model.eval();
  const infer = await timeSteps(
    () => noGrad(() => tidy(() => void model.forward(x))),
    windows,
    steps,
  );
  model.train();
  opt.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
  return [
    {
      name: `${name} train (batch ${batch})`,
      value: batch / train.seconds,
      unit: "images/s",
      dispatchesPerStep: train.dispatches,
      submitsPerStep: train.submits,
      startupSeconds: startup,
    },
    {
      name: `${name} inference (batch ${batch})`,
      value: batch / infer.seconds,
      unit: "images/s",
      dispatchesPerStep: infer.dispatches,
      submitsPerStep: infer.submits,
    },
  ];
}

async function benchGemm(n: number, windows: number): Promise<BenchRow> {
  const rng = new Rng(2);
  const a = randomTensor([n, n], rng);
  const b = randomTensor([n, n], rng);
  const c = Tensor.empty([n, n]);
  const run = () => void gemm(n, n, n, { t: a, sr: n, sc: 1 }, { t: b, sr: n, sc: 1 }, { out: c });
  run();
  await rt().sync();
  const r = await timeSteps(run, windows, 2);
  for (const t of [a, b, c]) t.dispose();
  return { name: `GEMM ${n}×${n}×${n}`, value: (2 * n ** 3) / r.seconds / 1e9, unit: "GFLOP/s" };
}

/** Runs every benchmark and writes the JSON report. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseFlags(args, ["windows", "steps", "out"], []);
  const windows = numberFlag(values, "windows", 5, { min: 1, max: 100, integer: true });
  const steps = numberFlag(values, "steps", 20, { min: 1, max: 10000, integer: true });
  const out = (values.out as string | undefined) ?? "bench/results.json";
  const runtime = await initRuntime();
  console.log(`facekit bench — adapter: ${runtime.adapterName}`);
  const rows: BenchRow[] = [];
  const show = (r: BenchRow) => {
    rows.push(r);
    const extra = r.dispatchesPerStep !== undefined
      ? `  (${r.dispatchesPerStep.toFixed(0)} dispatches, ${
        r.submitsPerStep!.toFixed(2)
      } submits/step)`
      : "";
    const start = r.startupSeconds !== undefined
      ? `  startup ${r.startupSeconds.toFixed(2)} s`
      : "";
    console.log(`${r.name.padEnd(34)} ${r.value.toFixed(1).padStart(9)} ${r.unit}${extra}${start}`);
  };
  for (const r of await benchNetwork("NoseNet", NOSENET, 1, windows, steps)) show(r);
  for (const r of await benchNetwork("FaceNet", FACENET, 1, windows, steps)) show(r);
  show(await benchGemm(1024, Math.min(windows, 3)));
  const report = {
    date: new Date().toISOString(),
    adapter: runtime.adapterName,
    fallbackAdapter: runtime.isFallback,
    deno: Deno.version.deno,
    method: `median of ${windows} windows × ${steps} steps after warm-up`,
    rows,
  };
  Deno.mkdirSync(dirname(out), { recursive: true });
  writeFileAtomic(out, JSON.stringify(report, null, 2) + "\n");
  console.log(`wrote ${out}`);
}

if (import.meta.main) await runMain(() => main(Deno.args));

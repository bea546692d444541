/**
 * TensorFlow.js comparison for `deno task bench`: the same networks as facekit (NoseNet,
 * FaceNet, ResNet-18), built with tf.layers on TF.js's WebGPU backend, trained with Adam
 * (lr 1e-3) on an MSE loss over random data, and timed like tasks/bench.ts: the median over
 * `windows` windows of `steps` steps after one warm-up step, each window ending with a read of
 * the last output so that the GPU's work is included.
 *
 * TF.js is NHWC where facekit is NCHW; the arithmetic is the same. Where TF's "same" padding
 * would pad asymmetrically (stride-2 convolutions and the stem's max-pool), ResNet-18 uses an
 * explicit symmetric zero-padding layer instead, as torchvision does (zero-padding before the
 * max-pool equals −∞ padding there, since its input is a ReLU output).
 *
 * No shims are needed: under Deno, `@tensorflow/tfjs-backend-webgpu` finds `navigator.gpu`
 * and initialises as it does in a browser.
 *
 * A synchronous TF.js step cannot be interrupted from JS, so {@link benchTfjs} runs each phase
 * (training, then inference) in its own subprocess (this file with `--child --phase P`) that
 * streams progress as JSON lines, and kills it when `timeLimitS` runs out; the limit counts
 * that subprocess's whole wall time (Deno and TF.js start-up, model build, warm-up, windows).
 *
 * First runs are much slower to warm up than later ones: llvmpipe compiles each new shader
 * with LLVM (tens of seconds for some of TF.js's tiled conv kernels) and keeps the result in
 * Mesa's on-disk shader cache (~/.cache/mesa_shader_cache), which later processes reuse.
 *
 * Usage: deno run -A tasks/bench_tfjs.ts --net nosenet|facenet|resnet18 [--batch N (1)]
 *          [--size PX (224, ResNet-18 only)] [--windows N (3)] [--steps N (10)]
 *          [--time-limit S (190, per phase)]
 * prints one JSON line: the {@link TfjsBenchResult}.
 * @module
 */

import { fileURLToPath as fromFileUrl } from "node:url";
import { numberFlag, parseFlags, runMain, UsageError } from "./cli.ts";

/** TF.js versions measured; keep in step with the `npm:` specifiers below. */
export const TFJS_VERSION = "4.22.0";

/** Networks {@link benchTfjs} can build. */
export type TfjsNet = "nosenet" | "facenet" | "resnet18";

/** Options of {@link benchTfjs}. */
export interface TfjsBenchOptions {
  /** Images per step. */
  batch: number;
  /** ResNet-18 input side in pixels (default 224); ignored by NoseNet and FaceNet. */
  size?: number;
  /** Timed windows; the result is the median over them. */
  windows: number;
  /** Steps per window. */
  steps: number;
  /** Wall-clock budget in seconds for each phase's subprocess (start-up included). */
  timeLimitS: number;
}

/** Result of {@link benchTfjs}: null throughputs mean the phase did not finish or failed. */
export interface TfjsBenchResult {
  /** Training images per second (forward + backward + Adam), or null. */
  trainImagesPerS: number | null;
  /** Inference images per second (`model.predict`), or null. */
  inferImagesPerS: number | null;
  /** What happened: timings, or why a figure is missing. */
  note: string;
  /** The TF.js backend actually used ("webgpu"), or "none" when it did not initialise. */
  backend: string;
}

const NETS: readonly TfjsNet[] = ["nosenet", "facenet", "resnet18"];

/** Progress messages from the child process, one JSON object per stdout line. */
type ChildEvent =
  | { event: "backend"; backend: string; adapter: string; initS: number }
  | { event: "built"; params: number; buildS: number }
  | { event: "warmup"; phase: Phase; seconds: number }
  | { event: "window"; phase: Phase; seconds: number; tensors: number }
  | { event: "error"; message: string };

type Phase = "infer" | "train";

const PHASE_NAME: Record<Phase, string> = { infer: "inference", train: "training" };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function checkOptions(net: string, opts: TfjsBenchOptions): void {
  if (!NETS.includes(net as TfjsNet)) {
    throw new UsageError(`unknown net "${net}" (expected ${NETS.join(", ")})`);
  }
  const ints: [string, number | undefined][] = [
    ["batch", opts.batch],
    ["windows", opts.windows],
    ["steps", opts.steps],
    ["size", opts.size],
  ];
  for (const [k, v] of ints) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new UsageError(`${k} must be a positive integer, got ${v}`);
    }
  }
  if (opts.size !== undefined && opts.size < 32) {
    throw new UsageError(`size must be at least 32 for ResNet-18, got ${opts.size}`);
  }
  if (!(opts.timeLimitS > 0)) {
    throw new UsageError(`timeLimitS must be positive, got ${opts.timeLimitS}`);
  }
}

/** Human-readable input size, for notes. */
function inputLabel(net: TfjsNet, opts: TfjsBenchOptions): string {
  if (net === "nosenet") return "60×80";
  if (net === "facenet") return "120×160";
  return `${opts.size ?? 224}²`;
}

/** What one phase's subprocess did. */
interface PhaseRun {
  phase: Phase;
  events: ChildEvent[];
  timedOut: boolean;
  code: number;
  stderrTail: string;
  wallS: number;
}

/**
 * Measures TF.js (WebGPU backend) training and then inference throughput of `net`. Each phase
 * runs in its own subprocess, killed after `opts.timeLimitS` seconds, so the call returns
 * within about 2 × `timeLimitS`.
 */
export async function benchTfjs(
  net: TfjsNet,
  opts: TfjsBenchOptions,
): Promise<TfjsBenchResult> {
  checkOptions(net, opts);
  const train = await runPhase(net, opts, "train");
  // No second try when TF.js or its WebGPU backend could not start: it would fail the same way.
  const built = find(train, "built") !== undefined;
  const initFailed = !built && (find(train, "error") !== undefined || !train.timedOut);
  const infer = initFailed ? null : await runPhase(net, opts, "infer");
  return summarize(net, opts, train, infer);
}

/** Runs one phase of the measurement in a subprocess (this file with `--child`). */
async function runPhase(net: TfjsNet, opts: TfjsBenchOptions, phase: Phase): Promise<PhaseRun> {
  const file = fromFileUrl(import.meta.url);
  const config = fromFileUrl(new URL("../deno.json", import.meta.url));
  const args = ["run", "-A", "--config", config, file, "--child", "--phase", phase];
  args.push("--net", net, "--batch", String(opts.batch));
  args.push("--windows", String(opts.windows), "--steps", String(opts.steps));
  if (opts.size !== undefined) args.push("--size", String(opts.size));
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  }, opts.timeLimitS * 1000);

  const events: ChildEvent[] = [];
  const take = (line: string) => {
    if (!line.startsWith("{")) return; // anything else a library prints
    try {
      const e = JSON.parse(line);
      if (e && typeof e.event === "string") events.push(e as ChildEvent);
    } catch { /* not ours */ }
  };
  const readStdout = (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        take(buf.slice(0, nl).trim());
        buf = buf.slice(nl + 1);
      }
    }
    take(buf.trim());
  })();
  const readStderr = (async () => {
    let tail = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      tail = (tail + chunk).slice(-4000);
    }
    return tail;
  })();

  const status = await child.status;
  clearTimeout(timer);
  await readStdout;
  const stderrTail = await readStderr;
  const wallS = (performance.now() - t0) / 1000;
  return { phase, events, timedOut, code: status.code, stderrTail, wallS };
}

type Ev<K extends ChildEvent["event"]> = Extract<ChildEvent, { event: K }>;

function find<K extends ChildEvent["event"]>(run: PhaseRun, kind: K): Ev<K> | undefined {
  return run.events.find((e) => e.event === kind) as Ev<K> | undefined;
}

/** One phase's throughput (null unless every window finished) and a note about it. */
function phaseResult(
  run: PhaseRun,
  opts: TfjsBenchOptions,
): { imagesPerS: number | null; note: string } {
  const name = PHASE_NAME[run.phase];
  const backendEv = find(run, "backend");
  const errorEv = find(run, "error");
  const warm = find(run, "warmup");
  const windows = run.events.filter((e) => e.event === "window") as Ev<"window">[];
  const built = find(run, "built");
  const setup = backendEv
    ? ` (TF.js init ${backendEv.initS.toFixed(1)} s` +
      (built ? `, model ${built.buildS.toFixed(1)} s)` : ")")
    : "";
  if (windows.length === opts.windows) {
    const sPerStep = median(windows.map((w) => w.seconds)) / opts.steps;
    const t = windows.map((w) => w.tensors);
    const grew = t[t.length - 1] - t[0];
    return {
      imagesPerS: opts.batch / sPerStep,
      note:
        `${name} ${(sPerStep * 1000).toFixed(1)} ms/step, warm-up step ${
          warm!.seconds.toFixed(2)
        } s, ${run.wallS.toFixed(1)} s in all${setup}` +
        (grew > 0 ? `, WARNING: ${grew} more tensors after the last window than the first` : ""),
    };
  }
  let why: string;
  if (errorEv) why = `failed: ${errorEv.message}`;
  else if (run.timedOut && !warm) {
    why = `did not finish one step within ${opts.timeLimitS} s` +
      (backendEv ? "" : " (TF.js had not even initialised)");
  } else if (run.timedOut) {
    const done = windows.map((w) => (opts.batch * opts.steps / w.seconds).toFixed(2));
    why = `did not finish ${plural(opts.windows, "window")} × ${plural(opts.steps, "step")} ` +
      `within ${opts.timeLimitS} s (warm-up step ${warm!.seconds.toFixed(1)} s; ` +
      `${plural(windows.length, "window")} done${done.length ? `: ${done.join(", ")} img/s` : ""})`;
  } else {
    const tail = run.stderrTail.trim().split("\n").slice(-6).join(" | ");
    why = `subprocess exited with code ${run.code} before finishing: ${tail || "(no stderr)"}`;
  }
  return { imagesPerS: null, note: `${name} ${why}${setup}` };
}

/** Combines the phases' progress events into a result. */
function summarize(
  net: TfjsNet,
  opts: TfjsBenchOptions,
  train: PhaseRun,
  infer: PhaseRun | null,
): TfjsBenchResult {
  const backendEv = find(train, "backend") ?? (infer && find(infer, "backend"));
  const backend = backendEv?.backend ?? "none";
  const parts = [
    `tfjs ${TFJS_VERSION} ${backend} on "${
      backendEv?.adapter ?? "?"
    }", ${net} batch ${opts.batch} ` +
    `${inputLabel(net, opts)}, median of ${opts.windows}×${opts.steps} steps after 1 warm-up`,
  ];
  const t = phaseResult(train, opts);
  parts.push(t.note);
  let inferImagesPerS: number | null = null;
  if (infer) {
    const i = phaseResult(infer, opts);
    inferImagesPerS = i.imagesPerS;
    parts.push(i.note);
  } else parts.push("inference not run");
  return { trainImagesPerS: t.imagesPerS, inferImagesPerS, note: parts.join("; "), backend };
}

// ---------------------------------------------------------------------------------------------
// Child process: everything below runs TF.js in this process.

type Tf = typeof import("npm:@tensorflow/tfjs@4.22.0");
type LayersModel = import("npm:@tensorflow/tfjs@4.22.0").LayersModel;
type SymbolicTensor = import("npm:@tensorflow/tfjs@4.22.0").SymbolicTensor;
type TfTensor = import("npm:@tensorflow/tfjs@4.22.0").Tensor;
type TfScalar = import("npm:@tensorflow/tfjs@4.22.0").Scalar;
type TfVariable = import("npm:@tensorflow/tfjs@4.22.0").Variable;

function emit(e: ChildEvent): void {
  console.log(JSON.stringify(e));
}

/** Conv 3×3 valid + ReLU + max-pool 2 blocks, flatten, dense + ReLU, dense. */
function keypointCnn(
  tf: Tf,
  h: number,
  w: number,
  channels: number[],
  hidden: number,
  outputs: number,
): LayersModel {
  const layers = [];
  channels.forEach((c, i) => {
    layers.push(
      tf.layers.conv2d({
        ...(i === 0 ? { inputShape: [h, w, 1] } : {}),
        filters: c,
        kernelSize: 3,
        padding: "valid",
        activation: "relu",
      }),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
    );
  });
  layers.push(
    tf.layers.flatten(),
    tf.layers.dense({ units: hidden, activation: "relu" }),
    tf.layers.dense({ units: outputs }),
  );
  return tf.sequential({ layers });
}

/** ResNet-18 in torchvision's layout, 1 input channel, 136 outputs, NHWC. */
function resnet18(tf: Tf, size: number, outputs = 136): LayersModel {
  const bn = (x: SymbolicTensor) =>
    tf.layers.batchNormalization({ axis: 3, momentum: 0.9, epsilon: 1e-5 }).apply(
      x,
    ) as SymbolicTensor;
  const relu = (x: SymbolicTensor) => tf.layers.reLU().apply(x) as SymbolicTensor;
  /** Conv without bias with torch's symmetric padding `pad`. */
  const conv = (x: SymbolicTensor, filters: number, k: number, stride: number, pad: number) => {
    let y = x;
    let padding: "valid" | "same" = "valid";
    if (pad > 0 && stride === 1 && 2 * pad === k - 1) padding = "same"; // symmetric already
    else if (pad > 0) y = tf.layers.zeroPadding2d({ padding: pad }).apply(y) as SymbolicTensor;
    return tf.layers.conv2d({ filters, kernelSize: k, strides: stride, padding, useBias: false })
      .apply(y) as SymbolicTensor;
  };
  const input = tf.input({ shape: [size, size, 1] });
  let x = relu(bn(conv(input, 64, 7, 2, 3)));
  x = tf.layers.zeroPadding2d({ padding: 1 }).apply(x) as SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: "valid" }).apply(
    x,
  ) as SymbolicTensor;
  let inC = 64;
  for (const [i, width] of [64, 128, 256, 512].entries()) {
    for (let b = 0; b < 2; b++) {
      const stride = i > 0 && b === 0 ? 2 : 1;
      let out = relu(bn(conv(x, width, 3, stride, 1)));
      out = bn(conv(out, width, 3, 1, 1));
      const skip = stride !== 1 || inC !== width ? bn(conv(x, width, 1, stride, 0)) : x;
      x = relu(tf.layers.add().apply([out, skip]) as SymbolicTensor);
      inC = width;
    }
  }
  x = tf.layers.globalAveragePooling2d({}).apply(x) as SymbolicTensor;
  const y = tf.layers.dense({ units: outputs }).apply(x) as SymbolicTensor;
  return tf.model({ inputs: input, outputs: y });
}

/** Runs the measurement in this process, printing {@link ChildEvent}s. */
async function childMain(
  net: TfjsNet,
  opts: Omit<TfjsBenchOptions, "timeLimitS">,
  phases: Phase[],
) {
  const t0 = performance.now();
  const tf = await import("npm:@tensorflow/tfjs@4.22.0");
  await import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");
  let ok = false;
  let why = "";
  try {
    ok = await tf.setBackend("webgpu");
    await tf.ready();
  } catch (e) {
    why = `tf.setBackend("webgpu") threw: ${(e as Error).message}`;
  }
  let backend = "none";
  try {
    backend = tf.getBackend() ?? "none"; // what TF.js fell back to, if webgpu failed
  } catch { /* no backend at all */ }
  let adapter = "none";
  try {
    const a = await navigator.gpu?.requestAdapter();
    if (a) {
      const info = a.info; // named as nn/device.ts names it
      adapter = info.description || `${info.vendor} ${info.architecture} ${info.device}`.trim();
    }
  } catch { /* informational only */ }
  emit({ event: "backend", backend, adapter, initS: (performance.now() - t0) / 1000 });
  if (!ok || backend !== "webgpu") {
    why ||= `tf.setBackend("webgpu") returned ${ok}`;
    emit({
      event: "error",
      message: `the webgpu backend did not initialise: ${why}` +
        (navigator.gpu ? "" : " (navigator.gpu is undefined: this runtime has no WebGPU)") +
        (backend === "none" ? "" : `; not measuring TF.js's fallback "${backend}"`),
    });
    return;
  }

  const tb = performance.now();
  const { batch, windows, steps } = opts;
  let model: LayersModel;
  let inShape: number[];
  let outputs: number;
  if (net === "nosenet") {
    model = keypointCnn(tf, 60, 80, [12, 22, 32], 64, 2);
    [inShape, outputs] = [[batch, 60, 80, 1], 2];
  } else if (net === "facenet") {
    model = keypointCnn(tf, 120, 160, [12, 20, 24, 30, 32], 256, 116);
    [inShape, outputs] = [[batch, 120, 160, 1], 116];
  } else {
    const size = opts.size ?? 224;
    model = resnet18(tf, size);
    [inShape, outputs] = [[batch, size, size, 1], 136];
  }
  const x = tf.randomUniform(inShape, -0.5, 0.5);
  const y = tf.randomUniform([batch, outputs], -0.5, 0.5);
  const optimizer = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((w) => w.read() as TfVariable);
  emit({ event: "built", params: model.countParams(), buildS: (performance.now() - tb) / 1000 });

  const trainStep = () =>
    optimizer.minimize(
      () =>
        tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as TfTensor) as TfScalar,
      true,
      vars,
    )!;
  const inferStep = () => model.predict(x, { batchSize: batch }) as TfTensor;

  /** Runs `n` steps and waits for the last one's output (so all queued GPU work is done). */
  const run = async (step: () => TfTensor, n: number) => {
    let last: TfTensor | null = null;
    for (let i = 0; i < n; i++) {
      last?.dispose();
      last = step();
    }
    await last!.data();
    last!.dispose();
  };

  for (const phase of phases) {
    const step = phase === "train" ? trainStep : inferStep;
    let t = performance.now();
    await run(step, 1);
    emit({ event: "warmup", phase, seconds: (performance.now() - t) / 1000 });
    for (let w = 0; w < windows; w++) {
      t = performance.now();
      await run(step, steps);
      const seconds = (performance.now() - t) / 1000;
      emit({ event: "window", phase, seconds, tensors: tf.memory().numTensors });
    }
  }
  optimizer.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
}

/**
 * CLI: runs {@link benchTfjs} and prints its result as one JSON line. With `--child` (used by
 * benchTfjs) it instead measures here, without a time limit, printing progress events;
 * `--phase train|infer` picks one phase (default both).
 */
export async function main(args: string[]): Promise<void> {
  const { values } = parseFlags(
    args,
    ["net", "batch", "size", "windows", "steps", "time-limit", "phase"],
    ["child"],
  );
  const net = (values.net as string | undefined) ?? "nosenet";
  const opts: TfjsBenchOptions = {
    batch: numberFlag(values, "batch", 1, { min: 1, max: 4096, integer: true }),
    size: values.size === undefined
      ? undefined
      : numberFlag(values, "size", 224, { min: 32, max: 1024, integer: true }),
    windows: numberFlag(values, "windows", 3, { min: 1, max: 100, integer: true }),
    steps: numberFlag(values, "steps", 10, { min: 1, max: 10000, integer: true }),
    timeLimitS: numberFlag(values, "time-limit", 190, { min: 1, max: 86400 }),
  };
  checkOptions(net, opts);
  if (values.child) {
    const phase = values.phase as string | undefined;
    if (phase !== undefined && phase !== "train" && phase !== "infer") {
      throw new UsageError(`--phase must be train or infer, got "${phase}"`);
    }
    try {
      await childMain(net as TfjsNet, opts, phase ? [phase] : ["train", "infer"]);
    } catch (e) {
      emit({ event: "error", message: (e as Error).message ?? String(e) });
    }
    Deno.exit(0); // don't wait on anything TF.js may keep alive
  }
  console.log(JSON.stringify(await benchTfjs(net as TfjsNet, opts)));
}

if (import.meta.main) await runMain(() => main(Deno.args));

/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The browser demo: loads a run folder's model (`?model=runs/<run>/`, the server's run list, or
 * the two files picked/dropped), decodes a photo with the browser's own codecs
 * (createImageBitmap + canvas; not imagescript), runs the facekit library's `predictKeypoints`
 * on the page's WebGPU device and draws the points on a canvas.
 *
 * For automated checks the page exposes its state: `<body data-gpu data-model data-state>` and
 * `globalThis.__facekitResult` (the last prediction) / `globalThis.__facekitError` (the last
 * error message).
 * Bundled into `web/dist/app.js` by `deno task web`.
 * @module
 */

import {
  type GrayImage,
  initRuntime,
  type LoadedModel,
  loadRunModel,
  NoWebGpuError,
  parseBox,
  predictImage,
  rgbaToGray,
} from "./model.ts";

/** The last prediction, as exposed on `globalThis.__facekitResult`. */
export interface FacekitResult {
  /** Increases with every prediction of the page. */
  runId: number;
  /** The image's file name. */
  image: string;
  /** Original image size in pixels. */
  width: number;
  /** See {@link width}. */
  height: number;
  /** Points [x, y] in original-image pixels, model output order. */
  points: [number, number][];
  /** "continuous" (pixel i covers [i, i+1)) or "annotation" (pixel i's centre at i). */
  convention: "continuous" | "annotation";
  /** Where the model came from (URL or file names). */
  model: string;
  /** The WebGPU adapter. */
  adapter: string;
  /** Inference time in milliseconds (resize, forward pass, readback). */
  ms: number;
  /** Canvas pixels per image pixel. */
  canvasScale: number;
  /** Canvas position of each drawn point (the marker's centre). */
  canvasPoints: [number, number][];
}

declare global {
  /** The last prediction (for automated checks). */
  var __facekitResult: FacekitResult | undefined;
  /** The last error message shown (for automated checks). */
  var __facekitError: string | undefined;
}

/** Longest canvas side; larger photos are drawn scaled down (points are scaled with them). */
const MAX_CANVAS_SIDE = 1024;
const MARKER_COLOR = "#ff2d55";

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`facekit demo: #${id} is missing from index.html`);
  return e as T;
}

const ui = {
  gpuStatus: el<HTMLParagraphElement>("gpu-status"),
  runList: el<HTMLUListElement>("run-list"),
  configFile: el<HTMLInputElement>("config-file"),
  weightsFile: el<HTMLInputElement>("weights-file"),
  modelStatus: el<HTMLParagraphElement>("model-status"),
  imageFile: el<HTMLInputElement>("image-file"),
  dropZone: el<HTMLDivElement>("drop-zone"),
  boxRow: el<HTMLLabelElement>("box-row"),
  box: el<HTMLInputElement>("box"),
  message: el<HTMLParagraphElement>("message"),
  resultStatus: el<HTMLParagraphElement>("result-status"),
  view: el<HTMLCanvasElement>("view"),
  pointsJson: el<HTMLPreElement>("points-json"),
};

interface PageImage {
  name: string;
  bitmap: ImageBitmap;
  gray: GrayImage;
}

let adapterName = "";
let gpuError: string | null = null;
let loaded: { model: LoadedModel; source: string } | null = null;
let image: PageImage | null = null;
let runId = 0;
/** Serialises model loads and predictions (one WebGPU queue, one model at a time). */
let queue: Promise<void> = Promise.resolve();

function setState(key: "gpu" | "model" | "state", value: string): void {
  document.body.dataset[key] = value;
}

function showError(text: string): void {
  ui.message.textContent = text;
  ui.message.hidden = false;
  globalThis.__facekitError = text;
  console.error(`facekit demo: ${text}`);
}

/** Hides the last error; a missing WebGPU stays shown, as it still applies. */
function clearError(): void {
  if (gpuError) {
    ui.message.textContent = gpuError;
    return;
  }
  ui.message.hidden = true;
  ui.message.textContent = "";
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Runs `task` after everything queued before it; errors are shown, never thrown. */
function enqueue(task: () => Promise<void>): Promise<void> {
  queue = queue.then(task).catch((e) => {
    setState("state", "error");
    showError(errorText(e));
  });
  return queue;
}

// ------------------------------------------------------------------ WebGPU

/** Opens the library's WebGPU runtime; on failure explains what the browser lacks. */
async function startGpu(): Promise<void> {
  if (!("gpu" in navigator) || !navigator.gpu) {
    gpuError = globalThis.isSecureContext
      ? "WebGPU is not available in this browser (navigator.gpu is missing). Use a current " +
        "Chrome, Edge or Safari, or a Firefox with WebGPU enabled; on Linux, Chrome may need " +
        "chrome://flags/#enable-unsafe-webgpu."
      : "WebGPU is only available on secure pages: open this page over https:// or from " +
        "http://localhost / http://127.0.0.1 (`deno task web` serves it on http://127.0.0.1:8000).";
  } else {
    try {
      const runtime = await initRuntime();
      adapterName = runtime.adapterName || "unnamed adapter";
      if (runtime.isFallback) adapterName += " (software)";
      runtime.device.lost.then((info) => {
        if (info.reason === "destroyed") return;
        setState("gpu", "unavailable");
        showError(`The WebGPU device was lost (${info.message}). Reload the page.`);
      });
    } catch (e) {
      gpuError = e instanceof NoWebGpuError && /no adapter/.test(e.message)
        ? "WebGPU is present but no adapter is available (navigator.gpu.requestAdapter() " +
          "returned null): hardware acceleration may be off or the GPU blocklisted. Try " +
          "enabling chrome://flags/#enable-unsafe-webgpu, or another browser."
        : `WebGPU could not be started: ${errorText(e)}`;
    }
  }
  if (gpuError) {
    setState("gpu", "unavailable");
    ui.gpuStatus.textContent = "WebGPU unavailable: keypoints cannot be computed here.";
    showError(gpuError);
  } else {
    setState("gpu", "ready");
    ui.gpuStatus.textContent = `WebGPU adapter: ${adapterName}`;
  }
}

// ------------------------------------------------------------------ model

/** Loads a model from config text (or null: from the weights' metadata) and weight bytes. */
async function useModel(
  configText: string | null,
  weights: Uint8Array,
  source: string,
  names: [string, string],
): Promise<void> {
  setState("model", "loading");
  ui.modelStatus.textContent = `Loading ${source}…`;
  if (gpuError) {
    setState("model", "error");
    ui.modelStatus.textContent = "No model: WebGPU is unavailable.";
    throw new Error(gpuError);
  }
  const previous = loaded;
  loaded = null;
  previous?.model.model.dispose();
  try {
    const model = await loadRunModel(configText, weights, names[0], names[1]);
    loaded = { model, source };
  } catch (e) {
    setState("model", "error");
    ui.modelStatus.textContent = "No model loaded.";
    throw e;
  }
  const m = loaded.model;
  const task = typeof m.config.task === "string" ? ` (${m.config.task})` : "";
  ui.modelStatus.textContent = `${m.kind}${task}: ${m.points} points, input ` +
    `${m.inputWidth}×${m.inputHeight} — ${source}`;
  ui.boxRow.hidden = m.kind !== "ResNet18";
  setState("model", "ready");
  clearError();
  await predict();
}

async function fetchBytes(url: URL): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`${url.pathname}: cannot fetch (${errorText(e)})`);
  }
  if (!res.ok) {
    throw new Error(
      `${url.pathname}: HTTP ${res.status} ${res.statusText}` +
        (res.status === 404 ? " (is the run folder under runs/, served by `deno task web`?)" : ""),
    );
  }
  return new Uint8Array(await res.arrayBuffer());
}

/** `?model=runs/<run>/`: both files fetched relative to the page. */
function loadModelFromUrl(param: string): Promise<void> {
  return enqueue(async () => {
    const base = new URL(param.endsWith("/") ? param : `${param}/`, location.href);
    const configUrl = new URL("config.json", base);
    const weightsUrl = new URL("model.safetensors", base);
    setState("model", "loading");
    ui.modelStatus.textContent = `Fetching ${base.pathname}…`;
    let configBytes: Uint8Array, weights: Uint8Array;
    try {
      [configBytes, weights] = await Promise.all([fetchBytes(configUrl), fetchBytes(weightsUrl)]);
    } catch (e) {
      setState("model", "error");
      ui.modelStatus.textContent = "No model loaded.";
      throw e;
    }
    await useModel(new TextDecoder().decode(configBytes), weights, base.pathname, [
      configUrl.pathname,
      weightsUrl.pathname,
    ]);
  });
}

/** The two picked (or dropped) files; config.json may be absent when the weights carry it. */
function loadModelFromFiles(config: File | null, weights: File): Promise<void> {
  return enqueue(async () => {
    const configText = config ? await config.text() : null;
    const bytes = new Uint8Array(await weights.arrayBuffer());
    const source = config ? `${config.name} + ${weights.name}` : weights.name;
    await useModel(configText, bytes, source, [config?.name ?? "config.json", weights.name]);
  });
}

/** Lists the server's run folders (only `deno task web` offers /api/runs; silent otherwise). */
async function listRuns(): Promise<void> {
  let runs: string[];
  try {
    const res = await fetch("api/runs");
    if (!res.ok) return;
    runs = await res.json();
  } catch {
    return;
  }
  if (!Array.isArray(runs) || runs.length === 0) return;
  ui.runList.replaceChildren(
    ...runs.map((name) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = `?model=${encodeURIComponent(`runs/${name}/`)}`;
      a.textContent = name;
      li.append(a);
      return li;
    }),
  );
  ui.runList.hidden = false;
}

// ------------------------------------------------------------------ image

/** Decodes with the browser's codecs into the library's gray image (BT.601 luma, 0..1). */
async function decodeImageFile(file: Blob, name: string): Promise<PageImage> {
  let bitmap: ImageBitmap;
  try {
    // Raw pixel values (no colour-profile conversion, no alpha premultiplication), like the
    // Deno-side decodeImage; EXIF orientation is applied, as the browser shows the photo.
    bitmap = await createImageBitmap(file, {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
    });
  } catch (e) {
    throw new Error(
      `${name}: cannot decode image (${errorText(e)}). Use a PNG, JPEG, WebP or GIF photo.`,
    );
  }
  const { width, height } = bitmap;
  if (!(width > 0 && height > 0)) {
    bitmap.close();
    throw new Error(`${name}: the image is empty`);
  }
  let ctx: OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null;
  if (typeof OffscreenCanvas !== "undefined") {
    ctx = new OffscreenCanvas(width, height).getContext("2d", { willReadFrequently: true });
  } else {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    ctx = canvas.getContext("2d", { willReadFrequently: true });
  }
  if (!ctx) throw new Error(`${name}: this browser gives no 2D canvas to read the pixels`);
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  return { name, bitmap, gray: rgbaToGray(rgba, width, height) };
}

function useImageFile(file: File): Promise<void> {
  return enqueue(async () => {
    setState("state", "running");
    ui.resultStatus.textContent = `Decoding ${file.name}…`;
    let decoded: PageImage;
    try {
      decoded = await decodeImageFile(file, file.name);
    } catch (e) {
      ui.resultStatus.textContent = "No image.";
      throw e;
    }
    image?.bitmap.close();
    image = decoded;
    clearError();
    draw(null);
    await predict();
  });
}

// ------------------------------------------------------------------ prediction and drawing

/** Draws the current image, and `result`'s points when given. */
function draw(result: { points: [number, number][]; convention: string } | null): {
  scale: number;
  canvasPoints: [number, number][];
} {
  if (!image) return { scale: 1, canvasPoints: [] };
  const { width, height } = image.bitmap;
  const scale = Math.min(1, MAX_CANVAS_SIDE / Math.max(width, height));
  const cw = Math.max(1, Math.round(width * scale));
  const ch = Math.max(1, Math.round(height * scale));
  const canvas = ui.view;
  canvas.width = cw;
  canvas.height = ch;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("this browser gives no 2D canvas to draw on");
  ctx.drawImage(image.bitmap, 0, 0, cw, ch);
  const canvasPoints: [number, number][] = [];
  if (!result) return { scale, canvasPoints };
  // Canvas coordinates are continuous (pixel i covers [i, i+1)); annotation coordinates put
  // pixel i's centre at i, half a pixel left/up of the continuous position.
  const shift = result.convention === "annotation" ? 0.5 : 0;
  const sx = cw / width, sy = ch / height;
  const box = loaded?.model.kind === "ResNet18" ? parseBox(ui.box.value) : null;
  if (box) {
    ctx.strokeStyle = "#30d158";
    ctx.lineWidth = 2;
    ctx.strokeRect(box.left * sx, box.top * sy, box.width * sx, box.height * sy);
  }
  const r = Math.max(2.5, Math.min(cw, ch) / 120);
  ctx.fillStyle = MARKER_COLOR;
  ctx.strokeStyle = "#ffffff";
  ctx.lineWidth = 1;
  for (const [x, y] of result.points) {
    const px = (x + shift) * sx, py = (y + shift) * sy;
    canvasPoints.push([px, py]);
    ctx.beginPath();
    ctx.arc(px, py, r, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
  }
  // Fill again so outlines of neighbouring markers never cover a marker's centre.
  for (const [px, py] of canvasPoints) {
    ctx.beginPath();
    ctx.arc(px, py, r - 0.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  return { scale, canvasPoints };
}

/** Predicts and draws when both a model and an image are there (called inside the queue). */
async function predict(): Promise<void> {
  if (!image) {
    ui.resultStatus.textContent = loaded ? "Now drop or choose a photo." : "Load a model.";
    return;
  }
  if (!loaded) {
    ui.resultStatus.textContent = gpuError
      ? "WebGPU is unavailable: no keypoints."
      : "Now load a model (step 1).";
    setState("state", "idle");
    return;
  }
  setState("state", "running");
  const { model, source } = loaded;
  const current = image;
  ui.resultStatus.textContent = `Predicting ${current.name}…`;
  const box = model.kind === "ResNet18" ? parseBox(ui.box.value) : null;
  const t0 = performance.now();
  const points = await predictImage(model, current.gray, box);
  const ms = performance.now() - t0;
  const { scale, canvasPoints } = draw({ points, convention: model.convention });
  const result: FacekitResult = {
    runId: ++runId,
    image: current.name,
    width: current.gray.width,
    height: current.gray.height,
    points,
    convention: model.convention,
    model: source,
    adapter: adapterName,
    ms,
    canvasScale: scale,
    canvasPoints,
  };
  globalThis.__facekitResult = result;
  ui.pointsJson.textContent = JSON.stringify(
    [{ image: result.image, width: result.width, height: result.height, points, box }],
    null,
    1,
  );
  ui.resultStatus.textContent = `${current.name} (${result.width}×${result.height}): ` +
    `${points.length} point${points.length === 1 ? "" : "s"} in ${ms.toFixed(0)} ms on ` +
    `${adapterName}.`;
  setState("state", "done");
}

// ------------------------------------------------------------------ wiring

function isModelFile(f: File): boolean {
  return /\.safetensors$/i.test(f.name) || /\.json$/i.test(f.name);
}

/** Files from a drop: model files go to the model, the first other file is the photo. */
function takeFiles(files: File[]): void {
  const weights = files.find((f) => /\.safetensors$/i.test(f.name));
  const config = files.find((f) => /\.json$/i.test(f.name));
  if (weights) {
    void loadModelFromFiles(config ?? null, weights);
  } else if (config) {
    showError(`${config.name}: drop it together with its model.safetensors`);
  }
  const photo = files.find((f) => !isModelFile(f));
  if (photo) void useImageFile(photo);
}

function wire(): void {
  const onModelPick = () => {
    const weights = ui.weightsFile.files?.[0];
    if (weights) void loadModelFromFiles(ui.configFile.files?.[0] ?? null, weights);
  };
  ui.configFile.addEventListener("change", onModelPick);
  ui.weightsFile.addEventListener("change", onModelPick);
  ui.imageFile.addEventListener("change", () => {
    const f = ui.imageFile.files?.[0];
    if (f) void useImageFile(f);
    ui.imageFile.value = ""; // choosing the same file again re-runs it
  });
  ui.box.addEventListener("change", () => void enqueue(predict));
  let depth = 0;
  document.addEventListener("dragenter", (e) => {
    e.preventDefault();
    if (++depth === 1) document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    if (--depth <= 0) {
      depth = 0;
      document.body.classList.remove("dragging");
    }
  });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    document.body.classList.remove("dragging");
    takeFiles([...(e.dataTransfer?.files ?? [])]);
  });
  ui.dropZone.addEventListener("click", (e) => {
    if (e.target === ui.dropZone) ui.imageFile.click();
  });
}

async function main(): Promise<void> {
  wire();
  void listRuns();
  await enqueue(startGpu); // model loads and predictions queue behind it
  const param = new URLSearchParams(location.search).get("model");
  if (param) await loadModelFromUrl(param);
}

void main();

/**
 * Browser-safe pieces of the demo (no DOM, no Deno APIs, no imagescript): turning a run folder's
 * `config.json` + `model.safetensors` bytes into a loaded model, RGBA pixels into the library's
 * {@link GrayImage}, and running {@link predictKeypoints}. Every facekit module is imported
 * directly, not through `mod.ts`, which also pulls in the Deno-only data loaders (node:path,
 * workers, imagescript).
 * @module
 */

import { initRuntime } from "../nn/runtime.ts";
import { NoWebGpuError } from "../nn/device.ts";
import { KeypointCnn, type KeypointCnnConfig } from "../nn/models/keypoint_cnn.ts";
import { ResNet18, type ResNet18Config } from "../nn/models/resnet18.ts";
import { decodeSafetensors } from "../nn/safetensors.ts";
import { loadModelState } from "../nn/serialize.ts";
import { predictKeypoints } from "../nn/predict.ts";
import type { GrayImage } from "../data/image.ts";
import type { CropBox } from "../data/face_crop.ts";

export { initRuntime, NoWebGpuError };
export type { CropBox, GrayImage };

/** A model ready for inference, with what the page shows about it. */
export interface LoadedModel {
  /** The network, in evaluation mode, weights on the GPU. */
  model: KeypointCnn | ResNet18;
  /** The parsed config.json (or the config stored in the safetensors metadata). */
  config: Record<string, unknown>;
  /** "KeypointCnn" or "ResNet18". */
  kind: "KeypointCnn" | "ResNet18";
  /** Number of keypoints the model predicts. */
  points: number;
  /** Input size the image is resized (KeypointCnn) or cropped (ResNet18) to. */
  inputWidth: number;
  /** See {@link inputWidth}. */
  inputHeight: number;
  /**
   * Pixel convention of the returned points: "continuous" (pixel i covers [i, i+1); KeypointCnn)
   * or "annotation" (pixel i's centre at i; ResNet18). See nn/predict.ts.
   */
  convention: "continuous" | "annotation";
}

/** Which network a run's config describes (the same rules as `deno task predict`). */
export function parseRunConfig(
  config: unknown,
  source: string,
):
  | { kind: "KeypointCnn"; arch: KeypointCnnConfig }
  | { kind: "ResNet18"; arch: ResNet18Config } {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new Error(`${source}: not a JSON object`);
  }
  const c = config as Record<string, unknown>;
  const arch = c.architecture;
  if (typeof arch !== "object" || arch === null) {
    throw new Error(`${source}: no "architecture" object`);
  }
  if (c.model === "ResNet18") return { kind: "ResNet18", arch: arch as ResNet18Config };
  if (c.model === "KeypointCnn" || c.task === "nose" || c.task === "face") {
    return { kind: "KeypointCnn", arch: arch as KeypointCnnConfig };
  }
  throw new Error(
    `${source}: unknown model ${JSON.stringify(c.model ?? c.task)} ` +
      `(expected KeypointCnn for task nose/face, or ResNet18)`,
  );
}

/**
 * Builds the model described by `configText` (config.json; when null, the `config` entry of the
 * safetensors metadata, which training also writes) and loads `weights` (model.safetensors bytes)
 * into it. Initialises the WebGPU runtime first (throws {@link NoWebGpuError} without one).
 * Errors name `configName` / `weightsName`.
 */
export async function loadRunModel(
  configText: string | null,
  weights: Uint8Array,
  configName = "config.json",
  weightsName = "model.safetensors",
): Promise<LoadedModel> {
  const { tensors, metadata } = decodeSafetensors(weights, weightsName);
  let text = configText;
  let source = configName;
  if (text === null) {
    if (!metadata.config) {
      throw new Error(`${weightsName}: no config stored in the file; pick its config.json too`);
    }
    text = metadata.config;
    source = `${weightsName} (metadata "config")`;
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: not valid JSON (${(e as Error).message})`);
  }
  const spec = parseRunConfig(config, source);
  await initRuntime();
  const model = spec.kind === "ResNet18" ? new ResNet18(spec.arch) : new KeypointCnn(spec.arch);
  try {
    loadModelState(model, tensors, weightsName);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  const isCnn = spec.kind === "KeypointCnn";
  const a = spec.arch as Partial<KeypointCnnConfig & ResNet18Config>;
  return {
    model,
    config: config as Record<string, unknown>,
    kind: spec.kind,
    points: (a.outputs ?? 0) / 2,
    inputWidth: (isCnn ? a.inputWidth : a.inputSize) ?? 0,
    inputHeight: (isCnn ? a.inputHeight : a.inputSize) ?? 0,
    convention: isCnn ? "continuous" : "annotation",
  };
}

/**
 * RGBA bytes (row-major, 4 per pixel, e.g. canvas `getImageData().data`) to gray 0..1 with
 * ITU-R BT.601 luma, exactly the arithmetic of `decodeImage` in data/image.ts (alpha ignored).
 */
export function rgbaToGray(rgba: ArrayLike<number>, width: number, height: number): GrayImage {
  if (!(width > 0 && height > 0) || rgba.length < width * height * 4) {
    throw new Error(`rgbaToGray: ${rgba.length} bytes do not hold a ${width}×${height} RGBA image`);
  }
  const data = new Float32Array(width * height);
  const k = 1 / 255;
  for (let i = 0, p = 0; i < data.length; i++, p += 4) {
    data[i] = (0.299 * rgba[p] + 0.587 * rgba[p + 1] + 0.114 * rgba[p + 2]) * k;
  }
  return { width, height, data };
}

/** Parses a face box "left,top,width,height" (pixels); null for an empty string. */
export function parseBox(raw: string): CropBox | null {
  if (raw.trim() === "") return null;
  const v = raw.split(",").map((s) => (s.trim() === "" ? NaN : Number(s)));
  if (v.length !== 4 || !v.every(Number.isFinite) || !(v[2] > 0 && v[3] > 0)) {
    throw new Error(
      `face box must be left,top,width,height in pixels (width and height > 0), got "${raw}"`,
    );
  }
  return { left: v[0], top: v[1], width: v[2], height: v[3] };
}

/**
 * Keypoints of one image as [x, y] pairs in original-image pixels (see
 * {@link LoadedModel.convention}), via the library's {@link predictKeypoints}. A ResNet-18 needs
 * the face `box`; without one the whole image is used as the box.
 */
export async function predictImage(
  loaded: LoadedModel,
  image: GrayImage,
  box: CropBox | null = null,
): Promise<[number, number][]> {
  const boxes = loaded.kind === "ResNet18"
    ? [box ?? { left: 0, top: 0, width: image.width, height: image.height }]
    : undefined;
  const [flat] = await predictKeypoints(loaded.model, [image], { boxes, batch: 1 });
  const points: [number, number][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) points.push([flat[i], flat[i + 1]]);
  return points;
}

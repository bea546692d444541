/**
 * Training checkpoints: model weights, optimizer state and the loop's position in one
 * safetensors file, written atomically (temporary file, then rename) so a crash or Ctrl-C never
 * leaves a half-written checkpoint behind.
 * @module
 */

import type { Module } from "./module.ts";
import type { Optimizer } from "./optim.ts";
import { loadSafetensors, saveSafetensors, type StoredTensor } from "./safetensors.ts";
import { loadModelState, modelState } from "./serialize.ts";

/** Where the training loop was when the checkpoint was written (JSON-serialisable). */
export interface TrainingPosition {
  /** Last fully finished epoch (0 before the first). */
  epoch: number;
  /** Optimizer steps taken so far. */
  steps: number;
  /** Anything else the task needs to continue exactly (seed, RNG state, metrics so far). */
  extra: Record<string, unknown>;
}

const MODEL = "model.";
const OPT = "optimizer.";

/** Writes model, optimizer and position to `path` atomically. */
export async function saveCheckpoint(
  path: string,
  model: Module,
  opt: Optimizer,
  position: TrainingPosition,
): Promise<void> {
  const tensors: Record<string, StoredTensor> = {};
  for (const [k, v] of Object.entries(await modelState(model))) tensors[MODEL + k] = v;
  const state = await opt.readState();
  for (const [k, shape] of opt.stateShapes()) tensors[OPT + k] = { shape, data: state.get(k)! };
  await saveSafetensors(path, tensors, {
    format: "facekit-checkpoint",
    position: JSON.stringify(position),
  });
}

/** Restores model and optimizer from a checkpoint; returns the saved position. */
export async function loadCheckpoint(
  path: string,
  model: Module,
  opt: Optimizer,
): Promise<TrainingPosition> {
  const { tensors, metadata } = await loadSafetensors(path);
  if (metadata.format !== "facekit-checkpoint" || !metadata.position) {
    throw new Error(`${path}: not a facekit training checkpoint`);
  }
  const modelPart: Record<string, StoredTensor> = {};
  for (const [k, v] of Object.entries(tensors)) {
    if (k.startsWith(MODEL)) modelPart[k.slice(MODEL.length)] = v;
  }
  loadModelState(model, modelPart, path);
  opt.writeState((k, size) => {
    const s = tensors[OPT + k];
    if (!s || s.data.length !== size) {
      throw new Error(`${path}: optimizer state "${k}" is missing or has the wrong size`);
    }
    return s.data;
  });
  const position = JSON.parse(metadata.position) as TrainingPosition;
  opt.restoreSteps(position.steps);
  return position;
}

/**
 * Reads only the training position stored in a checkpoint's header (no tensor data), e.g. to
 * recover a run's options before loading its data set.
 */
export async function readCheckpointPosition(path: string): Promise<TrainingPosition> {
  const file = await Deno.open(path, { read: true });
  try {
    const head = new Uint8Array(8);
    if ((await file.read(head)) !== 8) throw new Error(`${path}: too short for a checkpoint`);
    const n = Number(new DataView(head.buffer).getBigUint64(0, true));
    if (!(n > 0 && n < 100_000_000)) throw new Error(`${path}: not a safetensors file`);
    const json = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = await file.read(json.subarray(got));
      if (r === null) throw new Error(`${path}: truncated header`);
      got += r;
    }
    const meta = JSON.parse(new TextDecoder().decode(json)).__metadata__ ?? {};
    if (meta.format !== "facekit-checkpoint" || !meta.position) {
      throw new Error(`${path}: not a facekit training checkpoint`);
    }
    return JSON.parse(meta.position) as TrainingPosition;
  } finally {
    file.close();
  }
}

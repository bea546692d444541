/**
 * Model weights to and from safetensors files, by state_dict name.
 * @module
 */

import type { Module } from "./module.ts";
import { loadSafetensors, saveSafetensors, type StoredTensor } from "./safetensors.ts";

/** Reads every parameter and buffer of `model` back from the GPU. */
export async function modelState(model: Module): Promise<Record<string, StoredTensor>> {
  const out: Record<string, StoredTensor> = {};
  for (const [name, t] of model.stateTensors()) {
    out[name] = { shape: [...t.shape], data: await t.read() };
  }
  return out;
}

/** Writes `model`'s weights atomically to `path`, with string metadata (e.g. the config). */
export async function saveModel(
  path: string,
  model: Module,
  metadata: Record<string, string> = {},
): Promise<void> {
  await saveSafetensors(path, await modelState(model), metadata);
}

/**
 * Copies stored tensors into `model`'s parameters and buffers. Every model tensor must be
 * present with the same shape; extra stored tensors are an error too (a wrong file).
 */
export function loadModelState(
  model: Module,
  tensors: Record<string, StoredTensor>,
  source = "weights",
): void {
  const own = model.stateTensors();
  const missing = [...own.keys()].filter((k) => !(k in tensors));
  const extra = Object.keys(tensors).filter((k) => !own.has(k));
  if (missing.length || extra.length) {
    throw new Error(
      `${source}: does not match the model (missing: ${missing.join(", ") || "none"}; ` +
        `unexpected: ${extra.join(", ") || "none"})`,
    );
  }
  for (const [name, t] of own) {
    const s = tensors[name];
    if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) {
      throw new Error(`${source}: ${name} has shape [${s.shape}], the model needs [${t.shape}]`);
    }
    t.write(s.data);
  }
}

/** Loads a safetensors file into `model`; returns the file's metadata. */
export async function loadModel(path: string, model: Module): Promise<Record<string, string>> {
  const { tensors, metadata } = await loadSafetensors(path);
  loadModelState(model, tensors, path);
  return metadata;
}

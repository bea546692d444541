/**
 * Helpers shared by op files: kernel declaration and uniform packing.
 * @module
 */

import type { Kernel } from "./runtime.ts";

/** Threads per workgroup used by the element-wise and direct kernels. */
export const WORKGROUP = 64;

/** Declares a kernel whose WGSL uses `@workgroup_size(64)` (or `workgroupSize`). */
export function kernel(name: string, code: string, workgroupSize = WORKGROUP): Kernel {
  return { name, code, workgroupSize };
}

/**
 * Packs a uniform struct laid out as the u32 fields (in order) followed by the f32 fields, which
 * is how every facekit shader declares its `Params`.
 */
export function params(u32: number[], f32: number[] = []): Uint32Array {
  const words = new Uint32Array(u32.length + f32.length);
  for (let i = 0; i < u32.length; i++) {
    const v = u32[i];
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new Error(`facekit: uniform value ${v} is not a u32`);
    }
    words[i] = v;
  }
  new Float32Array(words.buffer, u32.length * 4).set(f32);
  return words;
}

/**
 * Fills the `{{NAME}}` holes of a WGSL template (kernels generated per shape or count); throws
 * on a hole without a value so a template and its generator cannot drift apart silently.
 */
export function fillTemplate(template: string, holes: Record<string, string | number>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    if (!(key in holes)) throw new Error(`facekit: no value for template hole ${key}`);
    return String(holes[key]);
  });
}

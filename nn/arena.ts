/**
 * Tensors laid end to end in one GPU buffer, each at an aligned offset. Optimizers keep the
 * parameters, their gradients and their moments in such buffers with one layout, so a single
 * dispatch over a byte range updates many parameters (a kernel cannot index a list of
 * bindings, and an adapter allows only a few per kernel: 16 on llvmpipe).
 * @module
 */

import { rt } from "./runtime.ts";
import { keep, shapeSize, Tensor } from "./tensor.ts";
import { fill } from "./ops/elementwise.ts";

/**
 * Slice alignment in bytes: the adapter's storage-offset alignment, and at least 256 (the
 * pool's smallest size step: vec4 kernels may touch the bytes up to it, as in pooled buffers).
 */
export function sliceAlignment(): number {
  return Math.max(256, rt().device.limits.minStorageBufferOffsetAlignment);
}

/** Byte offset and slice size of each member of an arena, and the total size. */
export interface ArenaLayout {
  offsets: number[];
  sliceBytes: number[];
  bytes: number;
}

/** Lays out tensors of these element counts at aligned offsets. */
export function arenaLayout(sizes: readonly number[]): ArenaLayout {
  const align = sliceAlignment();
  const offsets: number[] = [];
  const sliceBytes: number[] = [];
  let bytes = 0;
  for (const n of sizes) {
    const b = Math.max(align, Math.ceil((n * 4) / align) * align);
    offsets.push(bytes);
    sliceBytes.push(b);
    bytes += b;
  }
  return { offsets, sliceBytes, bytes };
}

/**
 * One zero-filled buffer with a tensor per member. The buffer returns to the pool once the
 * arena and every tensor over its slices (members, views, tensors that `adopt`ed a slice) are
 * disposed.
 */
export class TensorArena {
  readonly layout: ArenaLayout;
  /** The whole buffer as one flat tensor. */
  readonly whole: Tensor;
  /** One tensor per member, over its slice. */
  readonly members: Tensor[];

  /** A zero-filled arena for tensors of these shapes (at most the adapter's binding size). */
  constructor(shapes: readonly (readonly number[])[]) {
    this.layout = arenaLayout(shapes.map(shapeSize));
    // Kept: an arena made inside tidy() (an optimizer built there) must outlive it.
    this.whole = keep(fill([this.layout.bytes / 4], 0));
    const parent = this.whole.storage;
    this.members = shapes.map((shape, i) => {
      // Each slice holds one reference to the whole buffer until its last tensor is gone.
      parent.refs++;
      const slice = {
        buffer: parent.buffer,
        offset: this.layout.offsets[i],
        bytes: this.layout.sliceBytes[i],
        refs: 0,
        parent,
      };
      return keep(Tensor.over(shape, slice));
    });
  }

  /** The buffer every member lives in. */
  get buffer(): GPUBuffer {
    return this.whole.buffer;
  }

  /** A binding of the slices of members `from` … `to - 1` as one byte range. */
  range(from: number, to: number): { buffer: GPUBuffer; offset: number; size: number } {
    const { offsets, sliceBytes } = this.layout;
    const offset = offsets[from];
    return { buffer: this.buffer, offset, size: offsets[to - 1] + sliceBytes[to - 1] - offset };
  }

  /** Drops the arena's own tensors (tensors that adopted a slice keep the buffer alive). */
  dispose(): void {
    for (const t of this.members) t.dispose();
    this.whole.dispose();
  }
}

/**
 * Moves `tensors` into one new arena: their values are copied onto the GPU slice by slice and
 * each tensor then lives in its slice (same Tensor objects, so layers keep working).
 */
export function packTensors(tensors: readonly Tensor[]): TensorArena {
  const arena = new TensorArena(tensors.map((t) => t.shape));
  tensors.forEach((t, i) => {
    const slot = arena.members[i];
    if (t.size > 0) rt().copy(t.buffer, t.offset, slot.buffer, slot.offset, t.size * 4);
    t.adopt(slot.storage);
  });
  return arena;
}

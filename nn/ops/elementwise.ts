/**
 * Element-wise kernels: fill, in-place accumulate, and add/multiply/subtract with gradients.
 * @module
 */

import fillSrc from "../../shaders/fill.wgsl" with { type: "text" };
import binarySrc from "../../shaders/binary.wgsl" with { type: "text" };
import addInPlaceSrc from "../../shaders/add_inplace.wgsl" with { type: "text" };
import { kernel, params } from "../kernel.ts";
import { rt } from "../runtime.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";

const FILL = kernel("fill", fillSrc);
const BINARY = kernel("binary", binarySrc);
const ADD_INPLACE = kernel("add_inplace", addInPlaceSrc);

/** A new tensor with every element equal to `value`. */
export function fill(shape: readonly number[], value: number): Tensor {
  const out = Tensor.empty(shape);
  fillInPlace(out, value);
  return out;
}

/** Sets every element of `t` to `value` on the GPU. */
export function fillInPlace(t: Tensor, value: number): void {
  rt().dispatch(FILL, [t.binding], t.size, params([t.size], [value]));
}

/** `a += scale * b` on the GPU (no autograd: for gradients, losses and optimizer state). */
export function addInPlace(a: Tensor, b: Tensor, scale = 1): void {
  sameShape("addInPlace", a, b);
  rt().dispatch(ADD_INPLACE, [a.binding, b.binding], a.size, params([a.size], [scale]));
}

/** A copy of `t` in fresh storage (no autograd). */
export function copy(t: Tensor): Tensor {
  const out = Tensor.empty(t.shape);
  rt().copy(t.buffer, t.offset, out.buffer, out.offset, t.size * 4);
  return out;
}

function binary(op: number, a: Tensor, b: Tensor): Tensor {
  const out = Tensor.empty(a.shape);
  rt().dispatch(BINARY, [a.binding, b.binding, out.binding], a.size, params([a.size, op]));
  return out;
}

/** Element-wise `a + b` (same shapes); used for residual connections. */
export function add(a: Tensor, b: Tensor): Tensor {
  sameShape("add", a, b);
  // Each input gets its own storage so later in-place accumulation cannot alias.
  return record(binary(0, a, b), "add", [a, b], (g) => [g.reshape(g.shape), copy(g)]);
}

/** Element-wise `a - b` (same shapes). */
export function sub(a: Tensor, b: Tensor): Tensor {
  sameShape("sub", a, b);
  return record(binary(2, a, b), "sub", [a, b], (g) => [g.reshape(g.shape), neg(g)]);
}

/** Element-wise `a * b` (same shapes). */
export function mul(a: Tensor, b: Tensor): Tensor {
  sameShape("mul", a, b);
  return record(binary(1, a, b), "mul", [a, b], (g) => [binary(1, g, b), binary(1, g, a)]);
}

function neg(t: Tensor): Tensor {
  const out = fill(t.shape, 0);
  addInPlace(out, t, -1);
  return out;
}

/** Throws unless `a` and `b` have the same shape. */
export function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`facekit: ${op} needs equal shapes, got [${a.shape}] and [${b.shape}]`);
  }
}

/**
 * Deterministic sums over leading/trailing axes (bias gradients, split-K reductions).
 * @module
 */

import src from "../../shaders/reduce_sum.wgsl" with { type: "text" };
import { kernel, params } from "../kernel.ts";
import { rt } from "../runtime.ts";
import { Tensor } from "../tensor.ts";

const REDUCE = kernel("reduce_sum", src);

/**
 * Views `src` as [outer, count, inner] and returns the [count] sums over outer and inner
 * (written into `out` when given, added to it when `accumulate`).
 */
export function reduceSum(
  src: Tensor,
  outer: number,
  count: number,
  inner: number,
  out?: Tensor,
  accumulate = false,
): Tensor {
  if (outer * count * inner !== src.size) {
    throw new Error(`facekit: reduceSum ${outer}×${count}×${inner} does not match [${src.shape}]`);
  }
  const dst = out ?? Tensor.empty([count]);
  rt().dispatch(
    REDUCE,
    [src.binding, dst.binding],
    count,
    params([outer, count, inner, accumulate ? 1 : 0]),
  );
  return dst;
}

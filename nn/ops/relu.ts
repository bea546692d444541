/**
 * ReLU and its gradient.
 * @module
 */

import forwardSrc from "../../shaders/relu.wgsl" with { type: "text" };
import backwardSrc from "../../shaders/relu_backward.wgsl" with { type: "text" };
import { kernel, params } from "../kernel.ts";
import { rt } from "../runtime.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";

const FORWARD = kernel("relu", forwardSrc);
const BACKWARD = kernel("relu_backward", backwardSrc);

/** `max(x, 0)` element-wise. */
export function relu(x: Tensor): Tensor {
  const y = Tensor.empty(x.shape);
  rt().dispatch(FORWARD, [x.binding, y.binding], x.size, params([x.size]));
  return record(y, "relu", [x], (dy) => [reluBackward(y, dy)]);
}

/** `dy` masked where the ReLU output `y` is not positive. */
export function reluBackward(y: Tensor, dy: Tensor): Tensor {
  const dx = Tensor.empty(y.shape);
  rt().dispatch(BACKWARD, [y.binding, dy.binding, dx.binding], y.size, params([y.size]));
  return dx;
}

/** Float64 CPU reference of {@link relu}. */
export function reluReference(x: Float64Array): Float64Array {
  return x.map((v) => Math.max(v, 0));
}

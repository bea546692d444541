/**
 * Mean squared error loss with its gradient; the loss stays on the GPU as a [1] tensor.
 * @module
 */

import forwardSrc from "../../shaders/mse_forward.wgsl" with { type: "text" };
import backwardSrc from "../../shaders/mse_backward.wgsl" with { type: "text" };
import sumSrc from "../../shaders/workgroup_sum.wgsl" with { type: "text" };
import { kernel, params } from "../kernel.ts";
import { rt } from "../runtime.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { sameShape } from "./elementwise.ts";

const FORWARD = kernel("mse_forward", sumSrc + forwardSrc);
const BACKWARD = kernel("mse_backward", backwardSrc);

/** `mean((pred - target)²)` over all elements; gradients flow to `pred` only. */
export function mseLoss(pred: Tensor, target: Tensor): Tensor {
  sameShape("mseLoss", pred, target);
  const loss = Tensor.empty([1]);
  const words = params([pred.size]);
  // One workgroup reduces everything: the thread count is the workgroup size.
  rt().dispatch(FORWARD, [pred.binding, target.binding, loss.binding], 64, words);
  return record(loss, "mseLoss", [pred], (dloss) => {
    const dpred = Tensor.empty(pred.shape);
    rt().dispatch(
      BACKWARD,
      [pred.binding, target.binding, dloss.binding, dpred.binding],
      pred.size,
      words,
    );
    return [dpred];
  });
}

/** Float64 CPU reference of {@link mseLoss}. */
export function mseLossReference(pred: Float64Array, target: Float64Array): number {
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += (pred[i] - target[i]) ** 2;
  return s / pred.length;
}

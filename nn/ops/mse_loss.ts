/**
 * Mean squared error loss with its gradient; the loss stays on the GPU as a [1] tensor.
 * @module
 */

import forwardSrc from "../../shaders/mse_forward.wgsl" with { type: "text" };
import backwardSrc from "../../shaders/mse_backward.wgsl" with { type: "text" };
import sumSrc from "../../shaders/workgroup_sum.wgsl" with { type: "text" };
import { kernel, params } from "../kernel.ts";
import { rt } from "../runtime.ts";
import { isGradEnabled, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { sameShape } from "./elementwise.ts";

const FORWARD = kernel("mse_forward", sumSrc + forwardSrc);
const BACKWARD = kernel("mse_backward", backwardSrc);

/** `mean((pred - target)²)` over all elements; gradients flow to `pred` only. */
export function mseLoss(pred: Tensor, target: Tensor): Tensor {
  sameShape("mseLoss", pred, target);
  const loss = Tensor.empty([1]);
  // While recording, the forward also writes the gradient for a ones seed (what `backward()`
  // on the loss uses), saving the fill and gradient dispatches of a training step.
  const grad = isGradEnabled() && pred.requiresGrad;
  let dpredOnes: Tensor | null = Tensor.empty(grad ? pred.shape : [1]);
  // One workgroup reduces everything: the thread count is the workgroup size.
  rt().dispatch(
    FORWARD,
    [pred.binding, target.binding, loss.binding, dpredOnes.binding],
    64,
    params([pred.size, grad ? 1 : 0]),
  );
  if (!grad) {
    dpredOnes.dispose();
    return loss;
  }
  record(loss, "mseLoss", [pred], (dloss) => {
    dpredOnes?.dispose();
    dpredOnes = null;
    return [mseGradient(pred, target, dloss)];
  });
  loss.node!.backwardFromOnes = () => {
    const g = dpredOnes;
    dpredOnes = null;
    return [g];
  };
  return loss;
}

/** d(loss)/d(pred) = dloss · 2 (pred − target) / n, with dloss [1] on the GPU. */
export function mseGradient(pred: Tensor, target: Tensor, dloss: Tensor): Tensor {
  const dpred = Tensor.empty(pred.shape);
  rt().dispatch(
    BACKWARD,
    [pred.binding, target.binding, dloss.binding, dpred.binding],
    pred.size,
    params([pred.size]),
  );
  return dpred;
}

/** Float64 CPU reference of {@link mseLoss}. */
export function mseLossReference(pred: Float64Array, target: Float64Array): number {
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += (pred[i] - target[i]) ** 2;
  return s / pred.length;
}

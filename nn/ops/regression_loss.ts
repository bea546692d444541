/**
 * Regression losses over all elements — mean squared error and mean absolute error (L1) — with
 * their gradients; the loss stays on the GPU as a [1] tensor. Both come from one WGSL template
 * that differs only in the per-element term and its derivative.
 * @module
 */

import forwardSrc from "../../shaders/regression_loss_forward.wgsl" with { type: "text" };
import backwardSrc from "../../shaders/regression_loss_backward.wgsl" with { type: "text" };
import sumSrc from "../../shaders/workgroup_sum.wgsl" with { type: "text" };
import { fillTemplate, kernel, params } from "../kernel.ts";
import { rt } from "../runtime.ts";
import { isGradEnabled, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { sameShape } from "./elementwise.ts";

/** The regression losses facekit trains with. */
export type RegressionLoss = "mse" | "l1";

/** Per-element term and its derivative, as WGSL over `d = pred - tgt`. */
const TERMS: Record<RegressionLoss, { TERM: string; GRAD: string }> = {
  mse: { TERM: "d * d", GRAD: "2.0 * d" },
  // sign(0) = 0: PyTorch's L1 gradient where prediction and target agree.
  l1: { TERM: "abs(d)", GRAD: "sign(d)" },
};

const KERNELS = Object.fromEntries(
  (Object.keys(TERMS) as RegressionLoss[]).map((k) => [k, {
    forward: kernel(`${k}_forward`, sumSrc + fillTemplate(forwardSrc, TERMS[k])),
    backward: kernel(`${k}_backward`, fillTemplate(backwardSrc, TERMS[k])),
  }]),
) as Record<
  RegressionLoss,
  { forward: ReturnType<typeof kernel>; backward: ReturnType<typeof kernel> }
>;

/** `mean(loss(pred − target))` over all elements; gradients flow to `pred` only. */
export function regressionLoss(kind: RegressionLoss, pred: Tensor, target: Tensor): Tensor {
  const k = KERNELS[kind];
  if (!k) {
    throw new Error(`facekit: unknown loss "${kind}" (use ${Object.keys(TERMS).join(" or ")})`);
  }
  const name = `${kind}Loss`;
  sameShape(name, pred, target);
  const loss = Tensor.empty([1]);
  // While recording, the forward also writes the gradient for a ones seed (what `backward()`
  // on the loss uses), saving the fill and gradient dispatches of a training step.
  const grad = isGradEnabled() && pred.requiresGrad;
  let dpredOnes: Tensor | null = Tensor.empty(grad ? pred.shape : [1]);
  // One workgroup reduces everything: the thread count is the workgroup size.
  rt().dispatch(
    k.forward,
    [pred.binding, target.binding, loss.binding, dpredOnes.binding],
    64,
    params([pred.size, grad ? 1 : 0]),
  );
  if (!grad) {
    dpredOnes.dispose();
    return loss;
  }
  record(loss, name, [pred], (dloss) => {
    dpredOnes?.dispose();
    dpredOnes = null;
    return [lossGradient(kind, pred, target, dloss)];
  });
  loss.node!.backwardFromOnes = () => {
    const g = dpredOnes;
    dpredOnes = null;
    return [g];
  };
  return loss;
}

/** `mean((pred − target)²)` over all elements; gradients flow to `pred` only. */
export function mseLoss(pred: Tensor, target: Tensor): Tensor {
  return regressionLoss("mse", pred, target);
}

/** `mean(|pred − target|)` over all elements; gradients flow to `pred` only. */
export function l1Loss(pred: Tensor, target: Tensor): Tensor {
  return regressionLoss("l1", pred, target);
}

/** d(loss)/d(pred) = dloss · loss′(pred − target) / n, with dloss [1] on the GPU. */
export function lossGradient(
  kind: RegressionLoss,
  pred: Tensor,
  target: Tensor,
  dloss: Tensor,
): Tensor {
  const dpred = Tensor.empty(pred.shape);
  rt().dispatch(
    KERNELS[kind].backward,
    [pred.binding, target.binding, dloss.binding, dpred.binding],
    pred.size,
    params([pred.size]),
  );
  return dpred;
}

/** d(loss)/d(pred) = dloss · 2 (pred − target) / n, with dloss [1] on the GPU. */
export function mseGradient(pred: Tensor, target: Tensor, dloss: Tensor): Tensor {
  return lossGradient("mse", pred, target, dloss);
}

/** Float64 CPU reference of {@link regressionLoss}. */
export function regressionLossReference(
  kind: RegressionLoss,
  pred: Float64Array,
  target: Float64Array,
): number {
  let s = 0;
  for (let i = 0; i < pred.length; i++) {
    const d = pred[i] - target[i];
    s += kind === "mse" ? d * d : Math.abs(d);
  }
  return s / pred.length;
}

/** Float64 CPU reference of {@link mseLoss}. */
export function mseLossReference(pred: Float64Array, target: Float64Array): number {
  return regressionLossReference("mse", pred, target);
}

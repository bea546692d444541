/**
 * A batch-1 fully connected head — linear + ReLU, then linear — and its MSE loss as one op:
 * one forward dispatch where three ran (shaders/mlp_head_mse.wgsl), the same bits as
 * `mseLoss(linear(linear(x, W1, b1, { relu: true }), W2, b2), target)`. KeypointCnn uses it
 * for its training loss.
 * @module
 */

import headSrc from "../../shaders/mlp_head_mse.wgsl" with { type: "text" };
import sumSrc from "../../shaders/workgroup_sum.wgsl" with { type: "text" };
import { kernel, params } from "../kernel.ts";
import { rt } from "../runtime.ts";
import { isGradEnabled, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { linearBackwardBatch1, vec4Binding } from "./linear.ts";
import { mseGradient } from "./regression_loss.ts";

const HEAD = kernel("mlp_head_mse", sumSrc + headSrc);
/** Hidden features the kernel's workgroup copy of h holds (MAX_HIDDEN4 vec4s). */
const MAX_HIDDEN = 1024;

/**
 * Whether {@link mlpHeadMseLoss} takes these operands: x [1, in], W1 [hidden, in] and
 * W2 [out, hidden] with in and hidden multiples of 4 (vec4 rows), hidden ≤ 1024, both biases.
 */
export function canFuseMlpHead(
  x: Tensor,
  w1: Tensor,
  b1: Tensor | null,
  w2: Tensor,
  b2: Tensor | null,
): boolean {
  const [n1, k1] = w1.shape;
  return x.shape.length === 2 && x.shape[0] === 1 && x.shape[1] === k1 && k1 % 4 === 0 &&
    n1 % 4 === 0 && n1 <= MAX_HIDDEN && w2.shape.length === 2 && w2.shape[1] === n1 &&
    b1 !== null && b1.size === n1 && b2 !== null && b2.size === w2.shape[0];
}

/**
 * `mean((W2·relu(W1·x + b1) + b2 − target)²)` as a [1] tensor, for operands that
 * {@link canFuseMlpHead} accepts (throws otherwise). Gradients flow to x and the parameters.
 */
export function mlpHeadMseLoss(
  x: Tensor,
  w1: Tensor,
  b1: Tensor,
  w2: Tensor,
  b2: Tensor,
  target: Tensor,
): Tensor {
  if (!canFuseMlpHead(x, w1, b1, w2, b2)) {
    throw new Error(
      `facekit: mlpHeadMseLoss cannot fuse x [${x.shape}], W1 [${w1.shape}], W2 [${w2.shape}]`,
    );
  }
  const [n1, k1] = w1.shape;
  const n2 = w2.shape[0];
  if (target.shape.length !== 2 || target.shape[0] !== 1 || target.shape[1] !== n2) {
    throw new Error(`facekit: mlpHeadMseLoss target must be [1, ${n2}], got [${target.shape}]`);
  }
  const inputs = [x, w1, b1, w2, b2];
  const grad = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  const h = Tensor.empty([1, n1]);
  const out = Tensor.empty([1, n2]);
  const loss = Tensor.empty([1]);
  // The ones-seed loss gradient, written by the forward (as mseLoss does).
  let doutOnes: Tensor | null = Tensor.empty(grad ? [1, n2] : [1]);
  rt().dispatch(
    HEAD,
    [
      vec4Binding(x, k1),
      vec4Binding(w1, n1 * k1),
      b1.binding,
      vec4Binding(w2, n2 * n1),
      b2.binding,
      target.binding,
      h.binding,
      out.binding,
      loss.binding,
      doutOnes.binding,
    ],
    64,
    params([k1, n1, n2, grad ? 1 : 0]),
  );
  if (!grad) {
    for (const t of [h, out, doutOnes]) t.dispose();
    return loss;
  }
  // The two layers' batch-1 backwards, in the order the unfused graph runs them.
  const backward = (dout: Tensor): (Tensor | null)[] => {
    const [dh, dw2, db2] = linearBackwardBatch1(dout, out, h, w2, b2, false, true);
    const [dx, dw1, db1] = linearBackwardBatch1(dh!, h, x, w1, b1, true);
    dh!.dispose();
    dout.dispose();
    return [dx, dw1, db1, dw2, db2];
  };
  record(loss, "mlpHeadMseLoss", inputs, (dloss) => {
    doutOnes?.dispose();
    doutOnes = null;
    return backward(mseGradient(out, target, dloss));
  }, [h, out]);
  loss.node!.backwardFromOnes = () => {
    const g = doutOnes!;
    doutOnes = null;
    return backward(g);
  };
  return loss;
}

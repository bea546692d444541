/**
 * Global average pooling [N, C, H, W] → [N, C] with its gradient and a float64 reference.
 * @module
 */

import forwardSrc from "../../shaders/global_avg_pool.wgsl" with { type: "text" };
import backwardSrc from "../../shaders/global_avg_pool_backward.wgsl" with { type: "text" };
import { kernel, params } from "../kernel.ts";
import { rt } from "../runtime.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";

const FORWARD = kernel("global_avg_pool", forwardSrc);
const BACKWARD = kernel("global_avg_pool_backward", backwardSrc);

/** Mean over each channel's spatial plane. */
export function globalAvgPool(x: Tensor): Tensor {
  if (x.shape.length !== 4) throw new Error(`facekit: globalAvgPool needs NCHW, got [${x.shape}]`);
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const y = Tensor.empty([n, c]);
  rt().dispatch(FORWARD, [x.binding, y.binding], n * c, params([n * c, hw]));
  return record(y, "globalAvgPool", [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    rt().dispatch(BACKWARD, [dy.binding, dx.binding], x.size, params([x.size, hw]));
    return [dx];
  });
}

/** Float64 CPU reference of {@link globalAvgPool}. */
export function globalAvgPoolReference(x: Float64Array, shape: readonly number[]): Float64Array {
  const [n, c, h, w] = shape;
  const hw = h * w;
  const y = new Float64Array(n * c);
  for (let i = 0; i < n * c; i++) {
    let s = 0;
    for (let k = 0; k < hw; k++) s += x[i * hw + k];
    y[i] = s / hw;
  }
  return y;
}

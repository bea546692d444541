/**
 * BatchNorm2d over NCHW: training mode (batch statistics, running estimates updated) and eval
 * mode (running statistics), optional fused ReLU. Forward is 2 dispatches (statistics,
 * normalise), backward 2 (per-channel sums, input gradient).
 * @module
 */

import statsSrc from "../../shaders/batchnorm_stats.wgsl" with { type: "text" };
import normalizeSrc from "../../shaders/batchnorm_normalize.wgsl" with { type: "text" };
import reduceSrc from "../../shaders/batchnorm_backward_reduce.wgsl" with { type: "text" };
import inputSrc from "../../shaders/batchnorm_backward_input.wgsl" with { type: "text" };
import sumSrc from "../../shaders/workgroup_sum.wgsl" with { type: "text" };
import vecSrc from "../../shaders/batchnorm_vec.wgsl" with { type: "text" };
import udivSrc from "../../shaders/udiv.wgsl" with { type: "text" };
import { fillTemplate, kernel, params } from "../kernel.ts";
import { type Kernel, rt } from "../runtime.ts";
import { Tensor } from "../tensor.ts";
import { gradientFor, record } from "../autograd.ts";

/** The four BatchNorm kernels reading `width` values at a time (1, or 4 for vec4s). */
function kernelsOf(width: 1 | 4): Record<"stats" | "normalize" | "reduce" | "input", Kernel> {
  const prelude = fillTemplate(vecSrc, {
    TYPE: width === 4 ? "vec4f" : "f32",
    WIDTH: width,
    HSUM: width === 4 ? "dot(v, vec4f(1.0))" : "v",
  });
  const k = (name: string, ...src: string[]) => kernel(`${name}_v${width}`, prelude + src.join(""));
  return {
    stats: k("batchnorm_stats", sumSrc, statsSrc),
    normalize: k("batchnorm_normalize", udivSrc, normalizeSrc),
    reduce: k("batchnorm_backward_reduce", sumSrc, reduceSrc),
    input: k("batchnorm_backward_input", udivSrc, inputSrc),
  };
}
const SCALAR = kernelsOf(1);
const VEC4 = kernelsOf(4);

/** BatchNorm settings (PyTorch defaults). */
export interface BatchNormOptions {
  /** Use batch statistics and update the running ones (true), or use the running ones. */
  training: boolean;
  /** Weight of the new batch statistic in the running estimate (default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Fuse a ReLU after the affine transform. */
  relu?: boolean;
}

/**
 * Normalises each channel of x [N, C, H, W] and applies `gamma`, `beta` [C]. In training mode
 * the running mean/variance [C] are updated in place (unbiased variance, as PyTorch).
 */
export function batchNorm2d(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  o: BatchNormOptions,
): Tensor {
  if (x.shape.length !== 4) {
    throw new Error(`facekit: batchNorm2d input must be NCHW, got [${x.shape}]`);
  }
  const [n, c, h, w] = x.shape;
  for (const t of [gamma, beta, runningMean, runningVar]) {
    if (t.size !== c) throw new Error(`facekit: batchNorm2d parameters must have ${c} values`);
  }
  const hw = h * w;
  const eps = o.eps ?? 1e-5;
  const m = n * hw;
  if (o.training && m < 2) {
    throw new Error(`facekit: batchNorm2d in training mode needs more than 1 value per channel`);
  }
  // vec4 kernels when every vec4 lies in one channel plane.
  const width = hw % 4 === 0 ? 4 : 1;
  const K = width === 4 ? VEC4 : SCALAR;
  const stats = Tensor.empty([2, c]);
  if (o.training) {
    rt().dispatch(
      K.stats,
      [x.binding, stats.binding, runningMean.binding, runningVar.binding],
      c * 64, // one workgroup of 64 per channel
      params([n, c, hw, 1], [o.momentum ?? 0.1, eps]),
    );
  } else {
    rt().copy(runningMean.buffer, runningMean.offset, stats.buffer, stats.offset, c * 4);
    rt().copy(runningVar.buffer, runningVar.offset, stats.buffer, stats.offset + c * 4, c * 4);
  }
  const flags = (o.training ? 0 : 1) | (o.relu ? 2 : 0);
  const y = Tensor.empty(x.shape);
  rt().dispatch(
    K.normalize,
    [x.binding, stats.binding, gamma.binding, beta.binding, y.binding],
    x.size / width,
    params([x.size, c, hw, flags], [eps]),
  );
  return record(y, "batchNorm2d", [x, gamma, beta], (dy) => {
    const dgamma = gradientFor(gamma, [c]);
    const dbeta = gradientFor(beta, [c]);
    rt().dispatch(
      K.reduce,
      [x.binding, y.binding, dy.binding, stats.binding, dgamma.binding, dbeta.binding],
      c * 64,
      params([n, c, hw, flags], [eps]),
    );
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape);
      rt().dispatch(
        K.input,
        [
          x.binding,
          y.binding,
          dy.binding,
          stats.binding,
          gamma.binding,
          dgamma.binding,
          dbeta.binding,
          dx.binding,
        ],
        x.size / width,
        params([x.size, c, hw, flags], [m, eps]),
      );
    }
    return [dx, dgamma, dbeta];
  }, [stats]);
}

/** Float64 CPU reference of {@link batchNorm2d}; returns the output and new running stats. */
export function batchNorm2dReference(
  x: Float64Array,
  shape: readonly number[],
  gamma: Float64Array,
  beta: Float64Array,
  runningMean: Float64Array,
  runningVar: Float64Array,
  o: BatchNormOptions,
): { data: Float64Array; runningMean: Float64Array; runningVar: Float64Array } {
  const [n, c, h, w] = shape;
  const hw = h * w;
  const m = n * hw;
  const eps = o.eps ?? 1e-5;
  const mom = o.momentum ?? 0.1;
  const y = new Float64Array(x.length);
  const rm = Float64Array.from(runningMean);
  const rv = Float64Array.from(runningVar);
  for (let ch = 0; ch < c; ch++) {
    let mean = runningMean[ch];
    let variance = runningVar[ch];
    if (o.training) {
      let s = 0;
      for (let b = 0; b < n; b++) for (let i = 0; i < hw; i++) s += x[(b * c + ch) * hw + i];
      mean = s / m;
      let q = 0;
      for (let b = 0; b < n; b++) {
        for (let i = 0; i < hw; i++) q += (x[(b * c + ch) * hw + i] - mean) ** 2;
      }
      variance = q / m;
      rm[ch] = (1 - mom) * rm[ch] + mom * mean;
      rv[ch] = (1 - mom) * rv[ch] + mom * variance * m / (m - 1);
    }
    const inv = 1 / Math.sqrt(variance + eps);
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < hw; i++) {
        const j = (b * c + ch) * hw + i;
        const v = (x[j] - mean) * inv * gamma[ch] + beta[ch];
        y[j] = o.relu ? Math.max(v, 0) : v;
      }
    }
  }
  return { data: y, runningMean: rm, runningVar: rv };
}

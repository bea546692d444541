/**
 * 2-D convolution (NCHW input, weight [Co, Ci, KH, KW], optional bias, any stride/padding)
 * with its three gradients, plus a float64 CPU reference for tests.
 * @module
 */

import forwardSrc from "../../shaders/conv2d_forward.wgsl" with { type: "text" };
import gradInputSrc from "../../shaders/conv2d_grad_input.wgsl" with { type: "text" };
import gradWeightSrc from "../../shaders/conv2d_grad_weight.wgsl" with { type: "text" };
import { kernel, params } from "../kernel.ts";
import { rt } from "../runtime.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { reduceSum } from "./reduce.ts";
import { reluBackward as reluMask } from "./relu.ts";

const FORWARD = kernel("conv2d_forward", forwardSrc);
const GRAD_INPUT = kernel("conv2d_grad_input", gradInputSrc);
const GRAD_WEIGHT = kernel("conv2d_grad_weight", gradWeightSrc);

/** Convolution hyper-parameters. */
export interface Conv2dOptions {
  /** Step between windows (default 1). */
  stride?: number;
  /** Zero padding on every side (default 0). */
  padding?: number;
  /** Fuse a ReLU into the forward kernel (the gradient then masks by the output). */
  relu?: boolean;
}

/** Output size of a convolution or pooling along one axis. */
export function convOutSize(size: number, k: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}

interface Geometry {
  n: number;
  ci: number;
  h: number;
  w: number;
  co: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  stride: number;
  pad: number;
}

function geometry(xs: readonly number[], ws: readonly number[], o: Conv2dOptions): Geometry {
  if (xs.length !== 4) throw new Error(`facekit: conv2d input must be NCHW, got [${xs}]`);
  if (ws.length !== 4) throw new Error(`facekit: conv2d weight must be [Co,Ci,KH,KW], got [${ws}]`);
  const [n, ci, h, w] = xs;
  const [co, wci, kh, kw] = ws;
  if (wci !== ci) {
    throw new Error(`facekit: conv2d weight expects ${wci} channels, input has ${ci}`);
  }
  const stride = o.stride ?? 1;
  const pad = o.padding ?? 0;
  const oh = convOutSize(h, kh, stride, pad);
  const ow = convOutSize(w, kw, stride, pad);
  if (oh < 1 || ow < 1) {
    throw new Error(`facekit: conv2d ${kh}×${kw} kernel does not fit input [${xs}]`);
  }
  return { n, ci, h, w, co, oh, ow, kh, kw, stride, pad };
}

function words(g: Geometry, last: number): number[] {
  return [g.n, g.ci, g.h, g.w, g.co, g.oh, g.ow, g.kh, g.kw, g.stride, g.pad, last];
}

/** `y = conv2d(x, weight) + bias` (then ReLU when `relu` is set). */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  o: Conv2dOptions = {},
): Tensor {
  const g = geometry(x.shape, weight.shape, o);
  if (bias && bias.size !== g.co) throw new Error(`facekit: conv2d bias must have ${g.co} values`);
  const y = Tensor.empty([g.n, g.co, g.oh, g.ow]);
  const flags = (bias ? 1 : 0) | (o.relu ? 2 : 0);
  rt().dispatch(
    FORWARD,
    [x.binding, weight.binding, (bias ?? weight).binding, y.binding],
    g.n * Math.ceil(g.co / 4) * g.oh * g.ow,
    params(words(g, flags)),
  );
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(y, "conv2d", inputs, (dy) => {
    // A fused ReLU's gradient is the output mask; y is alive until this node has run.
    const gy = o.relu ? reluMask(y, dy) : dy;
    const grads = [
      x.requiresGrad ? conv2dGradInput(gy, weight, g) : null,
      weight.requiresGrad ? conv2dGradWeight(x, gy, g) : null,
      bias?.requiresGrad ? reduceSum(gy, g.n, g.co, g.oh * g.ow) : null,
    ];
    if (gy !== dy) gy.dispose();
    return grads;
  });
}

function conv2dGradInput(dy: Tensor, weight: Tensor, g: Geometry): Tensor {
  const dx = Tensor.empty([g.n, g.ci, g.h, g.w]);
  rt().dispatch(
    GRAD_INPUT,
    [dy.binding, weight.binding, dx.binding],
    g.n * Math.ceil(g.ci / 4) * g.h * g.w,
    params(words(g, 0)),
  );
  return dx;
}

/** Threads wanted for a split-K reduction to keep both a CPU's and a GPU's cores busy. */
const TARGET_THREADS = 8192;

function conv2dGradWeight(x: Tensor, dy: Tensor, g: Geometry): Tensor {
  const wsize = g.co * g.ci * g.kh * g.kw;
  const rows = g.n * g.oh;
  const chunks = Math.max(1, Math.min(rows, Math.ceil(TARGET_THREADS / wsize)));
  const rowsPerChunk = Math.ceil(rows / chunks);
  const used = Math.ceil(rows / rowsPerChunk);
  const dw = Tensor.empty([g.co, g.ci, g.kh, g.kw]);
  const partial = used === 1 ? dw : Tensor.empty([used, wsize]);
  rt().dispatch(
    GRAD_WEIGHT,
    [x.binding, dy.binding, partial.binding],
    wsize * used,
    params([...words(g, rowsPerChunk), used]),
  );
  if (partial === dw) return dw;
  reduceSum(partial, used, wsize, 1, dw);
  partial.dispose();
  return dw;
}

/** Float64 CPU reference of {@link conv2d} (for tests). */
export function conv2dReference(
  x: Float64Array,
  xShape: readonly number[],
  weight: Float64Array,
  wShape: readonly number[],
  bias: Float64Array | null,
  o: Conv2dOptions = {},
): { data: Float64Array; shape: number[] } {
  const g = geometry(xShape, wShape, o);
  const y = new Float64Array(g.n * g.co * g.oh * g.ow);
  for (let n = 0; n < g.n; n++) {
    for (let co = 0; co < g.co; co++) {
      for (let oy = 0; oy < g.oh; oy++) {
        for (let ox = 0; ox < g.ow; ox++) {
          let acc = bias ? bias[co] : 0;
          for (let c = 0; c < g.ci; c++) {
            for (let ky = 0; ky < g.kh; ky++) {
              const iy = oy * g.stride + ky - g.pad;
              if (iy < 0 || iy >= g.h) continue;
              for (let kx = 0; kx < g.kw; kx++) {
                const ix = ox * g.stride + kx - g.pad;
                if (ix < 0 || ix >= g.w) continue;
                acc += x[((n * g.ci + c) * g.h + iy) * g.w + ix] *
                  weight[((co * g.ci + c) * g.kh + ky) * g.kw + kx];
              }
            }
          }
          y[((n * g.co + co) * g.oh + oy) * g.ow + ox] = o.relu ? Math.max(acc, 0) : acc;
        }
      }
    }
  }
  return { data: y, shape: [g.n, g.co, g.oh, g.ow] };
}

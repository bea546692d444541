/**
 * 2-D max-pooling (kernel, stride, padding) with an argmax-gather backward, plus a float64
 * CPU reference.
 * @module
 */

import forwardSrc from "../../shaders/maxpool_forward.wgsl" with { type: "text" };
import backwardSrc from "../../shaders/maxpool_backward.wgsl" with { type: "text" };
import tiledBackwardSrc from "../../shaders/maxpool_backward_tiled.wgsl" with { type: "text" };
import forward2x2Src from "../../shaders/maxpool2x2_forward.wgsl" with { type: "text" };
import backward2x2Src from "../../shaders/maxpool2x2_backward.wgsl" with { type: "text" };
import backwardS2Src from "../../shaders/maxpool_backward_s2.wgsl" with { type: "text" };
import udivSrc from "../../shaders/udiv.wgsl" with { type: "text" };
import backwardBindingsSrc from "../../shaders/maxpool_backward_bindings.wgsl" with {
  type: "text",
};
import { kernel, params } from "../kernel.ts";
import { rt } from "../runtime.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { convOutSize } from "./conv2d.ts";

const FORWARD = kernel("maxpool_forward", forwardSrc);
const BACKWARD = kernel("maxpool_backward", backwardBindingsSrc + backwardSrc);
const BACKWARD_TILED = kernel("maxpool_backward_tiled", backwardBindingsSrc + tiledBackwardSrc);
const FORWARD_2X2 = kernel("maxpool2x2_forward", udivSrc + forward2x2Src);
const BACKWARD_2X2 = kernel("maxpool2x2_backward", udivSrc + backward2x2Src);
const BACKWARD_S2 = kernel("maxpool_backward_s2", udivSrc + backwardBindingsSrc + backwardS2Src);

/** Pooling hyper-parameters. */
export interface MaxPool2dOptions {
  /** Window side. */
  kernel: number;
  /** Step between windows (default: the window side). */
  stride?: number;
  /** Padding on every side, which never wins the max (default 0). */
  padding?: number;
}

function geometry(xs: readonly number[], o: MaxPool2dOptions) {
  if (xs.length !== 4) throw new Error(`facekit: maxPool2d input must be NCHW, got [${xs}]`);
  const k = o.kernel;
  const stride = o.stride ?? k;
  const pad = o.padding ?? 0;
  if (pad * 2 > k) {
    throw new Error(`facekit: maxPool2d padding ${pad} exceeds half the kernel ${k}`);
  }
  const [n, c, h, w] = xs;
  const oh = convOutSize(h, k, stride, pad);
  const ow = convOutSize(w, k, stride, pad);
  if (oh < 1 || ow < 1) throw new Error(`facekit: maxPool2d ${k}×${k} does not fit [${xs}]`);
  return { n, c, h, w, oh, ow, k, stride, pad };
}

/** Max over `kernel`×`kernel` windows of each channel. */
export function maxPool2d(x: Tensor, o: MaxPool2dOptions): Tensor {
  const g = geometry(x.shape, o);
  const y = Tensor.empty([g.n, g.c, g.oh, g.ow]);
  const argmax = Tensor.empty([g.n, g.c, g.oh, g.ow]); // u32 indices stored in f32-sized slots
  // 2×2 windows over rows of whole vec4s (the IMM nets): two outputs per thread.
  if (g.k === 2 && g.stride === 2 && g.pad === 0 && g.h % 2 === 0 && g.w % 4 === 0) {
    const pairs = y.size / 2;
    const words = params([pairs, g.w / 4]);
    rt().dispatch(FORWARD_2X2, [x.binding, y.binding, argmax.binding], pairs, words);
    return record(y, "maxPool2d", [x], (dy) => {
      const dx = Tensor.empty(x.shape);
      rt().dispatch(BACKWARD_2X2, [dy.binding, argmax.binding, dx.binding], pairs, words);
      return [dx];
    }, [argmax]);
  }
  const words = params([g.n * g.c, g.h, g.w, g.oh, g.ow, g.k, g.stride, g.pad]);
  rt().dispatch(FORWARD, [x.binding, y.binding, argmax.binding], y.size, words);
  return record(y, "maxPool2d", [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    const bindings = [dy.binding, argmax.binding, dx.binding];
    // Non-overlapping windows: one thread per window instead of per pixel.
    if (g.stride === g.k && g.pad === 0) rt().dispatch(BACKWARD_TILED, bindings, y.size, words);
    else if (g.stride === 2) {
      // Overlapping stride-2 windows: one thread per 2×2 block of pixels.
      const blocks = g.n * g.c * Math.ceil(g.h / 2) * Math.ceil(g.w / 2);
      rt().dispatch(BACKWARD_S2, bindings, blocks, words);
    } else rt().dispatch(BACKWARD, bindings, dx.size, words);
    return [dx];
  }, [argmax]);
}

/** Float64 CPU reference of {@link maxPool2d}. */
export function maxPool2dReference(
  x: Float64Array,
  xShape: readonly number[],
  o: MaxPool2dOptions,
): { data: Float64Array; shape: number[] } {
  const g = geometry(xShape, o);
  const y = new Float64Array(g.n * g.c * g.oh * g.ow);
  for (let p = 0; p < g.n * g.c; p++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        let best = -Infinity;
        for (let ky = 0; ky < g.k; ky++) {
          const iy = oy * g.stride + ky - g.pad;
          if (iy < 0 || iy >= g.h) continue;
          for (let kx = 0; kx < g.k; kx++) {
            const ix = ox * g.stride + kx - g.pad;
            if (ix < 0 || ix >= g.w) continue;
            best = Math.max(best, x[(p * g.h + iy) * g.w + ix]);
          }
        }
        y[(p * g.oh + oy) * g.ow + ox] = best;
      }
    }
  }
  return { data: y, shape: [g.n, g.c, g.oh, g.ow] };
}

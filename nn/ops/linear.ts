/**
 * Fully connected layer `y = x·Wᵀ + b` (PyTorch's weight layout [out, in]) on the strided GEMM
 * kernel, with its gradients, plus a float64 CPU reference.
 * @module
 */

import gemmSrc from "../../shaders/gemm.wgsl" with { type: "text" };
import gemmVec4Src from "../../shaders/gemm_nn_vec4.wgsl" with { type: "text" };
import { kernel, params } from "../kernel.ts";
import { rt } from "../runtime.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { reduceSum } from "./reduce.ts";
import { reluBackward } from "./relu.ts";

const GEMM = kernel("gemm", gemmSrc);
const GEMM_NN_VEC4 = kernel("gemm_nn_vec4", gemmVec4Src);

/** Strides of one GEMM operand as the kernel addresses it: element (r, c) at r·sr + c·sc. */
export interface Operand {
  /** The tensor holding the operand's values. */
  t: Tensor;
  /** Stride between rows. */
  sr: number;
  /** Stride between columns. */
  sc: number;
}

/**
 * `C[m×n] = A[m×k] · B[k×n]` (+bias, ReLU, or accumulate into `out`) with A and B read through
 * strides, so transposed operands need no copy.
 */
export function gemm(
  m: number,
  n: number,
  k: number,
  a: Operand,
  b: Operand,
  opt: { bias?: Tensor | null; relu?: boolean; out?: Tensor; accumulate?: boolean } = {},
): Tensor {
  const c = opt.out ?? Tensor.empty([m, n]);
  if (c.size !== m * n) throw new Error(`facekit: gemm output has ${c.size} values, not ${m * n}`);
  const flags = (opt.bias ? 1 : 0) | (opt.relu ? 2 : 0) | (opt.accumulate ? 4 : 0);
  const bias = (opt.bias ?? a.t).binding;
  // Row-major A and B with k and n multiples of 4: the vec4 kernel (4×8 register tiles).
  if (a.sc === 1 && a.sr === k && b.sc === 1 && b.sr === n && k % 4 === 0 && n % 4 === 0) {
    rt().dispatch(
      GEMM_NN_VEC4,
      [vec4Binding(a.t, m * k), vec4Binding(b.t, k * n), bias, c.binding],
      Math.ceil(m / 4) * Math.ceil(n / 8),
      params([m, n, k, flags]),
    );
    return c;
  }
  rt().dispatch(
    GEMM,
    [a.t.binding, b.t.binding, bias, c.binding],
    Math.ceil(m / 4) * Math.ceil(n / 4),
    params([m, n, k, a.sr, a.sc, b.sr, b.sc, flags]),
  );
  return c;
}

/** A binding of the first `elements` values as whole vec4s (pooled buffers are 256-byte sized). */
function vec4Binding(t: Tensor, elements: number) {
  return { buffer: t.buffer, size: Math.ceil(elements / 4) * 16 };
}

/** `x·Wᵀ + b` for x [batch, in], W [out, in], b [out]; `relu` fuses a ReLU. */
export function linear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  opt: { relu?: boolean } = {},
): Tensor {
  if (x.shape.length !== 2 || weight.shape.length !== 2 || weight.shape[1] !== x.shape[1]) {
    throw new Error(
      `facekit: linear needs x [batch, in] and weight [out, in]; got [${x.shape}] and [${weight.shape}]`,
    );
  }
  const [m, k] = x.shape;
  const n = weight.shape[0];
  if (bias && bias.size !== n) throw new Error(`facekit: linear bias must have ${n} values`);
  const y = gemm(m, n, k, { t: x, sr: k, sc: 1 }, { t: weight, sr: 1, sc: k }, {
    bias,
    relu: opt.relu,
  });
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(y, "linear", inputs, (dy) => {
    const g = opt.relu ? reluBackward(y, dy) : dy;
    const grads = [
      // dx[m×k] = dy[m×n] · W[n×k]
      x.requiresGrad ? gemm(m, k, n, { t: g, sr: n, sc: 1 }, { t: weight, sr: k, sc: 1 }) : null,
      // dW[n×k] = dyᵀ[n×m] · x[m×k]
      weight.requiresGrad ? gemm(n, k, m, { t: g, sr: 1, sc: n }, { t: x, sr: k, sc: 1 }) : null,
      bias?.requiresGrad ? reduceSum(g, m, n, 1) : null,
    ];
    if (g !== dy) g.dispose();
    return grads;
  });
}

/** Float64 CPU reference of {@link linear}. */
export function linearReference(
  x: Float64Array,
  xShape: readonly number[],
  weight: Float64Array,
  wShape: readonly number[],
  bias: Float64Array | null,
  opt: { relu?: boolean } = {},
): { data: Float64Array; shape: number[] } {
  const [m, k] = xShape;
  const n = wShape[0];
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = bias ? bias[j] : 0;
      for (let q = 0; q < k; q++) acc += x[i * k + q] * weight[j * k + q];
      y[i * n + j] = opt.relu ? Math.max(acc, 0) : acc;
    }
  }
  return { data: y, shape: [m, n] };
}

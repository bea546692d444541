// Every op: GPU forward equals the float64 reference; GPU backward equals central finite
// differences of the reference. Shapes include odd sizes, non-square inputs, stride 2,
// padding 1, batch > 1 and single-channel input.
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { assertClose, checkGradients } from "./grad_check.ts";
import { initRuntime, rt } from "../nn/runtime.ts";
import { Tensor, tidy } from "../nn/tensor.ts";
import { conv2d, conv2dReference } from "../nn/ops/conv2d.ts";
import { maxPool2d, maxPool2dReference } from "../nn/ops/maxpool2d.ts";
import { relu, reluBackward, reluReference } from "../nn/ops/relu.ts";
import { gemm, linear, linearReference } from "../nn/ops/linear.ts";
import {
  mseLossReference,
  regressionLoss,
  regressionLossReference,
} from "../nn/ops/regression_loss.ts";
import { mlpHeadMseLoss } from "../nn/ops/mlp_head.ts";
import { add, mul, sub } from "../nn/ops/elementwise.ts";

const convCases = [
  { x: [1, 1, 7, 9], w: [3, 1, 3, 3], stride: 1, padding: 0 },
  { x: [2, 3, 8, 5], w: [5, 3, 3, 3], stride: 2, padding: 1 },
  { x: [2, 2, 9, 7], w: [4, 2, 3, 3], stride: 1, padding: 1 },
  { x: [1, 5, 6, 10], w: [6, 5, 1, 1], stride: 2, padding: 0 },
  { x: [2, 1, 11, 13], w: [2, 1, 7, 7], stride: 2, padding: 3 },
  { x: [3, 4, 5, 5], w: [7, 4, 2, 3], stride: 1, padding: 0 },
  // Rows of whole vec4s without padding (the forward reads x in place), Co % 4 != 0.
  { x: [2, 3, 6, 8], w: [5, 3, 3, 3], stride: 1, padding: 0 },
  // Enough 4-channel × input-channel threads that the weight gradient is not split; Ci % 4 != 0.
  { x: [1, 33, 5, 8], w: [13, 33, 3, 3], stride: 1, padding: 0 },
  // Padding above k - 1: the input gradient takes the direct kernel.
  { x: [2, 2, 5, 6], w: [3, 2, 1, 1], stride: 2, padding: 1 },
  // Enough tiles for 8-row tiles in the forward and input gradient (20 rows: the last tile
  // ragged), and in a strided input gradient (33 rows); gradients checked at samples.
  { x: [6, 2, 20, 64], w: [8, 2, 3, 3], stride: 1, padding: 1, samples: 160 },
  { x: [4, 8, 33, 65], w: [6, 8, 3, 3], stride: 2, padding: 1, samples: 160 },
  // An input without gradient (a network's first layer): dy is read in place.
  { x: [2, 3, 9, 11], w: [5, 3, 3, 3], stride: 2, padding: 1, xGrad: false },
];

for (const c of convCases) {
  for (const bias of [true, false]) {
    Deno.test(`conv2d x[${c.x}] w[${c.w}] s${c.stride} p${c.padding} bias=${bias}`, () =>
      checkGradients({
        name: "conv2d",
        inputs: [
          { shape: c.x, grad: c.xGrad ?? true },
          { shape: c.w, grad: true },
          ...(bias ? [{ shape: [c.w[0]], grad: true }] : []),
        ],
        gpu: ([x, w, b]) => conv2d(x, w, b ?? null, c),
        reference: ([x, w, b]) => conv2dReference(x, c.x, w, c.w, b ?? null, c).data,
        samples: c.samples,
      }));
  }
}

Deno.test("conv2d with fused ReLU", () => {
  const c = { x: [2, 2, 6, 7], w: [3, 2, 3, 3], stride: 1, padding: 1, relu: true };
  return checkGradients({
    name: "conv2d+relu",
    inputs: [{ shape: c.x, grad: true }, { shape: c.w, grad: true }, { shape: [3], grad: true }],
    gpu: ([x, w, b]) => conv2d(x, w, b, c),
    reference: ([x, w, b]) => conv2dReference(x, c.x, w, c.w, b, c).data,
  });
});

// Two split-K convolutions in a row; with one weight shared by both, its two gradients are summed;
// a frozen second weight's gradient is dropped.
for (const mode of ["", "shared", "frozen"]) {
  const shared = mode === "shared";
  Deno.test(`conv2d → conv2d, split-K weight gradients ${mode}`, () => {
    const xs = [2, 4, 9, 12], ws = [4, 4, 3, 3];
    const c = { stride: 1, padding: 1 };
    return checkGradients({
      name: "conv2d→conv2d",
      inputs: [
        { shape: xs, grad: true },
        { shape: ws, grad: true },
        { shape: [4], grad: true },
        { shape: ws, grad: mode === "" },
        { shape: [4], grad: true },
      ],
      gpu: ([x, w1, b1, w2, b2]) =>
        conv2d(conv2d(x, w1, b1, { ...c, relu: true }), shared ? w1 : w2, b2, c),
      reference: ([x, w1, b1, w2, b2]) => {
        const h = conv2dReference(x, xs, w1, ws, b1, { ...c, relu: true });
        return conv2dReference(h.data, h.shape, shared ? w1 : w2, ws, b2, c).data;
      },
    });
  });
}

// Convolutions with the 2×2 max-pool fused (floor: odd sides drop a row or column) against
// conv2d → maxPool2d in float64.
const pooledConvCases = [
  // A network's first layer (no input gradient): dy is unpooled by a prep.
  { x: [1, 1, 10, 14], w: [4, 1, 3, 3], stride: 1, padding: 0, relu: true, xGrad: false },
  { x: [2, 3, 9, 11], w: [5, 3, 3, 3], stride: 1, padding: 1, relu: true },
  { x: [1, 4, 12, 16], w: [6, 4, 3, 3], stride: 1, padding: 0, relu: true, bias: false },
  { x: [2, 2, 8, 9], w: [3, 2, 3, 3], stride: 1, padding: 1, relu: false },
  // 8-row tiles (4 pooled rows per thread).
  { x: [4, 2, 34, 64], w: [8, 2, 3, 3], stride: 1, padding: 1, relu: true, samples: 160 },
];
for (const c of pooledConvCases) {
  const bias = c.bias ?? true;
  const o = { stride: c.stride, padding: c.padding, relu: c.relu };
  Deno.test(`conv2d+pool x[${c.x}] w[${c.w}] p${c.padding} relu=${c.relu} bias=${bias}`, () =>
    checkGradients({
      name: "conv2d+pool",
      inputs: [
        { shape: c.x, grad: c.xGrad ?? true },
        { shape: c.w, grad: true },
        ...(bias ? [{ shape: [c.w[0]], grad: true }] : []),
      ],
      gpu: ([x, w, b]) => conv2d(x, w, b ?? null, { ...o, pool: true }),
      reference: ([x, w, b]) => {
        const y = conv2dReference(x, c.x, w, c.w, b ?? null, o);
        return maxPool2dReference(y.data, y.shape, { kernel: 2 }).data;
      },
      samples: c.samples,
    }));
}

const poolCases = [
  { x: [1, 1, 6, 8], kernel: 2, stride: 2, padding: 0 },
  // Vec4 2×2 path (width a multiple of 4, even height), several planes and rows.
  { x: [2, 3, 4, 12], kernel: 2, stride: 2, padding: 0 },
  { x: [2, 3, 7, 5], kernel: 2, stride: 2, padding: 0 },
  // Overlapping stride-2 windows (one thread per 2×2 block of pixels; odd sides leave
  // partial blocks).
  { x: [2, 2, 9, 11], kernel: 3, stride: 2, padding: 1 },
  { x: [1, 2, 8, 10], kernel: 3, stride: 2, padding: 0 },
  { x: [1, 1, 6, 7], kernel: 2, stride: 2, padding: 1 },
  { x: [1, 2, 9, 8], kernel: 5, stride: 2, padding: 2 },
  { x: [1, 2, 5, 6], kernel: 3, stride: 1, padding: 1 },
  { x: [2, 2, 8, 7], kernel: 3, stride: 3, padding: 0 },
];
for (const c of poolCases) {
  Deno.test(`maxPool2d x[${c.x}] k${c.kernel} s${c.stride} p${c.padding}`, () =>
    checkGradients({
      name: "maxPool2d",
      inputs: [{ shape: c.x, grad: true }],
      gpu: ([x]) => maxPool2d(x, c),
      reference: ([x]) => maxPool2dReference(x, c.x, c).data,
    }));
}

Deno.test("relu", () =>
  checkGradients({
    name: "relu",
    inputs: [{ shape: [3, 5, 7], grad: true, awayFromZero: 1e-3 }],
    gpu: ([x]) => relu(x),
    reference: ([x]) => reluReference(x),
  }));

for (
  // Batch 1 with k a multiple of 4 runs the x·Wᵀ vec4 kernel, the outer-product weight
  // gradient and the bias gradient as a view of dy: [1, 16, 5], [1, 12, 2], [1, 20, 64].
  const [m, k, n] of [
    [1, 7, 5],
    [3, 13, 9],
    [6, 4, 1],
    [5, 33, 17],
    [2, 8, 12],
    [9, 16, 20],
    [5, 12, 8],
    [1, 16, 5],
    [1, 12, 2],
    [1, 20, 64],
    // Batch 1 with k a multiple of 4: the one-dispatch backward (ragged 8-column tiles; n = 5
    // and 2 above take its gemm.wgsl-like branch).
    [1, 36, 12],
  ]
) {
  for (const fused of [false, true]) {
    Deno.test(`linear ${m}×${k} → ${n} relu=${fused}`, () =>
      checkGradients({
        name: "linear",
        inputs: [{ shape: [m, k], grad: true }, { shape: [n, k], grad: true }, {
          shape: [n],
          grad: true,
        }],
        gpu: ([x, w, b]) => linear(x, w, b, { relu: fused }),
        reference: ([x, w, b]) => linearReference(x, [m, k], w, [n, k], b, { relu: fused }).data,
      }));
  }
}

Deno.test("linear at batch 1: the one-dispatch backward equals mask + GEMM + outer product bit for bit", async () => {
  await initRuntime();
  const val = (len: number, f: number) =>
    Float32Array.from({ length: len }, (_, i) => Math.sin(i * f));
  // n = 16 sums like gemm_nn_vec4, n = 6 like gemm.wgsl (the kernels gemm() picks).
  const cases = [[44, 16, false], [44, 16, true], [36, 6, false], [36, 6, true]] as const;
  for (const [k, n, fused] of cases) {
    const x = Tensor.from(val(k, 0.7), [1, k], true);
    const w = Tensor.from(val(n * k, 0.13), [n, k], true);
    const b = Tensor.from(val(n, 1.9), [n], true);
    const dy = Tensor.from(val(n, 2.3), [1, n]);
    const y = linear(x, w, b, { relu: fused });
    y.kept = true;
    y.backward(dy);
    const g = fused ? reluBackward(y, dy) : dy;
    const dx = gemm(1, k, n, { t: g, sr: n, sc: 1 }, { t: w, sr: k, sc: 1 });
    const dw = gemm(n, k, 1, { t: g, sr: 1, sc: n }, { t: x, sr: k, sc: 1 });
    deepStrictEqual(await x.grad!.read(), await dx.read());
    deepStrictEqual(await w.grad!.read(), await dw.read());
    deepStrictEqual(await b.grad!.read(), await g.read());
    for (const t of [x.grad!, w.grad!, b.grad!, x, w, b, dy, y, dx, dw]) t.dispose();
    if (g !== dy) g.dispose();
  }
});

for (const kind of ["mse", "l1"] as const) {
  Deno.test(`regressionLoss ${kind}`, () =>
    checkGradients({
      name: `${kind}Loss`,
      inputs: [{ shape: [4, 29], grad: true }, { shape: [4, 29] }],
      gpu: ([p, t]) => regressionLoss(kind, p, t),
      reference: ([p, t]) => Float64Array.of(regressionLossReference(kind, p, t)),
    }));
}

Deno.test("mlpHeadMseLoss (fused batch-1 fc + ReLU, fc, MSE)", () =>
  checkGradients({
    name: "mlpHeadMseLoss",
    inputs: [
      { shape: [1, 12], grad: true },
      { shape: [8, 12], grad: true },
      { shape: [8], grad: true },
      { shape: [5, 8], grad: true },
      { shape: [5], grad: true },
      { shape: [1, 5] },
    ],
    gpu: ([x, w1, b1, w2, b2, t]) => mlpHeadMseLoss(x, w1, b1, w2, b2, t),
    reference: ([x, w1, b1, w2, b2, t]) => {
      const h = linearReference(x, [1, 12], w1, [8, 12], b1, { relu: true }).data;
      return Float64Array.of(mseLossReference(linearReference(h, [1, 8], w2, [5, 8], b2).data, t));
    },
  }));

for (const kind of ["mse", "l1"] as const) {
  Deno.test(`${kind}Loss: backward() without a seed uses the forward's gradient, same bits, fewer dispatches`, async () => {
    await initRuntime();
    const pred = Array.from({ length: 2 * 37 }, (_, i) => Math.sin(i * 1.7));
    const tgt = Array.from({ length: 2 * 37 }, (_, i) => Math.cos(i * 0.3));
    const gradOf = async (seeded: boolean) => {
      const p = Tensor.from(Float32Array.from(pred), [2, 37], true);
      const t = Tensor.from(Float32Array.from(tgt), [2, 37]);
      const d0 = rt().stats().dispatches;
      tidy(() => {
        const loss = regressionLoss(kind, p, t);
        loss.backward(seeded ? Tensor.from(Float32Array.of(1), [1]) : undefined);
      });
      const dispatches = rt().stats().dispatches - d0;
      const g = await p.grad!.read();
      p.grad!.dispose();
      p.dispose();
      t.dispose();
      return { g, dispatches };
    };
    const seeded = await gradOf(true);
    const ones = await gradOf(false);
    deepStrictEqual(ones.g, seeded.g);
    strictEqual(ones.dispatches, seeded.dispatches - 1);
    // The gradient is 2 (pred - target) / n (MSE) or sign(pred - target) / n (L1).
    assertClose(
      ones.g,
      pred.map((v, i) => {
        const d = Math.fround(v) - Math.fround(tgt[i]);
        return (kind === "mse" ? 2 * d : Math.sign(d)) / pred.length;
      }),
      "dpred",
    );
  });
}

Deno.test("add / sub / mul", async () => {
  const shape = [2, 3, 5];
  await checkGradients({
    name: "add",
    inputs: [{ shape, grad: true }, { shape, grad: true }],
    gpu: ([a, b]) => add(a, b),
    reference: ([a, b]) => a.map((v, i) => v + b[i]),
  });
  await checkGradients({
    name: "sub",
    inputs: [{ shape, grad: true }, { shape, grad: true }],
    gpu: ([a, b]) => sub(a, b),
    reference: ([a, b]) => a.map((v, i) => v - b[i]),
  });
  await checkGradients({
    name: "mul",
    inputs: [{ shape, grad: true }, { shape, grad: true }],
    gpu: ([a, b]) => mul(a, b),
    reference: ([a, b]) => a.map((v, i) => v * b[i]),
  });
});

Deno.test("gradient fan-out: x used twice accumulates", () =>
  checkGradients({
    name: "fan-out",
    inputs: [{ shape: [3, 4], grad: true }],
    gpu: ([x]) => mul(add(x, x), x),
    reference: ([x]) => x.map((v) => 2 * v * v),
  }));

Deno.test("gemm: row-major vec4 path (4×8 tiles, ragged edges) matches float64", async () => {
  await initRuntime();
  for (const [m, k, n] of [[7, 12, 20], [1, 4, 4], [13, 32, 12], [64, 64, 64]]) {
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.11));
    const bias = Float32Array.from({ length: n }, (_, i) => i * 0.01);
    const ta = Tensor.from(a, [m, k]);
    const tb = Tensor.from(b, [k, n]);
    const tbias = Tensor.from(bias, [n]);
    const c = gemm(m, n, k, { t: ta, sr: k, sc: 1 }, { t: tb, sr: n, sc: 1 }, {
      bias: tbias,
      relu: true,
    });
    const want = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = bias[j];
        for (let q = 0; q < k; q++) s += a[i * k + q] * b[q * n + j];
        want[i * n + j] = Math.max(s, 0);
      }
    }
    assertClose(await c.read(), want, `gemm ${m}×${k}×${n}`, 1e-4, 1e-4);
    for (const t of [ta, tb, tbias, c]) t.dispose();
  }
});

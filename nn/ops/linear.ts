/**
 * Fully connected layer `y = x·Wᵀ + b` (PyTorch's weight layout [out, in]) on the strided GEMM
 * kernel, with its gradients, plus a float64 CPU reference.
 * @module
 */

import gemmSrc from "../../shaders/gemm.wgsl" with { type: "text" };
import gemmVec4Src from "../../shaders/gemm_nn_vec4.wgsl" with { type: "text" };
import gemmWideSrc from "../../shaders/gemm_nn_wide.wgsl" with { type: "text" };
import gemmNtSrc from "../../shaders/gemm_nt_vec4.wgsl" with { type: "text" };
import outerSrc from "../../shaders/outer_product.wgsl" with { type: "text" };
import backwardB1Src from "../../shaders/linear_backward_b1.wgsl" with { type: "text" };
import { autotuner, type Candidate } from "../autotune.ts";
import { fillTemplate, kernel, params } from "../kernel.ts";
import { type Kernel, rt } from "../runtime.ts";
import { Tensor } from "../tensor.ts";
import { gradientFor, record } from "../autograd.ts";
import { reduceSum } from "./reduce.ts";
import { reluBackward } from "./relu.ts";

const GEMM = kernel("gemm", gemmSrc);
const GEMM_NN_VEC4 = kernel("gemm_nn_vec4", gemmVec4Src);
const GEMM_NT_VEC4 = kernel("gemm_nt_vec4", gemmNtSrc);
const OUTER = kernel("outer_product", outerSrc);
const BACKWARD_B1 = kernel("linear_backward_b1", backwardB1Src);

/** Register tile of the wide GEMM kernel: rows × vec4 columns of C per thread. */
export interface WideTile {
  /** Rows of C per thread. */
  r: number;
  /** vec4 columns of C per thread. */
  v: number;
  /**
   * Threads whose columns interleave: thread j of a run of `l` owns vec4 columns j, j + l, …,
   * so neighbouring threads (a CPU adapter's SIMD lanes) load neighbouring vec4s.
   */
  l: number;
}

/**
 * Register tiles (rows × vec4 columns of C per thread) of the wide kernels gemm() chooses from
 * for large row-major shapes. On llvmpipe (quiet machine, 1024³, columns interleaved): 16×16
 * 27 GFLOP/s, 32×32 34–37; 32×16, 16×32, 64×16 and 48×32 no better, 8×32, 24×16, 48×16, 32×8
 * and 64×8 slower, and 64×32 or 32×64 take minutes to compile. Big tiles suit a CPU adapter (spilled accumulators cost less than loads);
 * a GPU wants small ones, which the autotuner finds.
 */
export const WIDE_TILES = { wide: { r: 16, v: 4 }, wide32: { r: 32, v: 8 } } as const;
/** The 16×16 tile (tests assume its shape). */
export const WIDE_TILE = WIDE_TILES.wide;

/**
 * The tile for n columns: runs of 8 interleaved threads (1024³, 16×16: 14 → 16 GFLOP/s here),
 * or the largest shorter run that leaves under 1/8 of the columns idle. Every run length and
 * tile computes each element with the same expression, so the results are bit-identical.
 */
export function wideTile(n: number, base: { r: number; v: number } = WIDE_TILE): WideTile {
  const n4 = n / 4;
  const fits = (l: number) => Math.ceil(n4 / (base.v * l)) * base.v * l - n4 <= n4 / 8;
  return { ...base, l: [8, 4, 2].find(fits) ?? 1 };
}

const wideKernels = new Map<string, Kernel>();

/** gemm_nn_wide.wgsl with its holes filled for one tile shape (cached). */
export function gemmWideKernel(t: WideTile): Kernel {
  const name = `gemm_nn_wide_${t.r}x${t.v}${t.l > 1 ? `_l${t.l}` : ""}`;
  let k = wideKernels.get(name);
  if (k) return k;
  const rows = range(t.r);
  const cols = range(t.v);
  const init = [
    ...rows.map((r) => `  let ra${r} = min(m0 + ${r}u, p.m - 1u) * k4;`),
    ...cols.map((v) => `  let cb${v} = min(c0 + ${v * t.l}u, n4 - 1u);`),
    ...rows.flatMap((r) => cols.map((v) => `  var acc${r}_${v} = vec4f(0.0);`)),
  ];
  const body = ["    let kb = kk * 4u * n4;"];
  for (const v of cols) {
    for (let j = 0; j < 4; j++) body.push(`    let b${v}_${j} = b[kb + ${j}u * n4 + cb${v}];`);
  }
  for (const r of rows) {
    body.push(`    let a${r} = a[ra${r} + kk];`);
    // The same expression as gemm_nn_vec4.wgsl, so both kernels round identically and the
    // autotuner's choice never changes results.
    for (const v of cols) {
      body.push(
        `    acc${r}_${v} += a${r}.x * b${v}_0 + a${r}.y * b${v}_1 + a${r}.z * b${v}_2 + a${r}.w * b${v}_3;`,
      );
    }
  }
  const store = rows.flatMap((r) =>
    cols.map((v) => `  store(m0 + ${r}u, c0 + ${v * t.l}u, acc${r}_${v});`)
  );
  const code = fillTemplate(gemmWideSrc, {
    R: t.r,
    V: t.v,
    L: t.l,
    INIT: init.join("\n"),
    BODY: body.join("\n"),
    STORE: store.join("\n"),
  });
  k = kernel(name, code);
  wideKernels.set(name, k);
  return k;
}

/** Threads of a wide-tile GEMM: per block of r rows, whole runs of l threads over the columns. */
function wideThreads(t: WideTile, m: number, n: number): number {
  return Math.ceil(m / t.r) * Math.ceil(n / (4 * t.v * t.l)) * t.l;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

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
  const rowMajorA = a.sc === 1 && a.sr === k;
  // Row-major A and B with k and n multiples of 4: vec4 kernels.
  if (rowMajorA && b.sc === 1 && b.sr === n && k % 4 === 0 && n % 4 === 0) {
    gemmNnAs(nnVariant(m, n, k), m, n, k, a.t, b.t, c, opt.bias ?? null, flags);
    return c;
  }
  // A·Bᵀ with both along k (a linear layer's forward, x·Wᵀ): dot products of vec4s.
  if (rowMajorA && b.sr === 1 && b.sc === k && k % 4 === 0 && !opt.accumulate) {
    rt().dispatch(
      GEMM_NT_VEC4,
      [vec4Binding(a.t, m * k), vec4Binding(b.t, n * k), (opt.bias ?? a.t).binding, c.binding],
      m * Math.ceil(n / 4),
      params([m, n, k, flags]),
    );
    return c;
  }
  // k = 1 (a weight gradient at batch 1): an outer product of a column and a row.
  if (k === 1 && a.sr === 1 && b.sc === 1 && n % 4 === 0 && flags === 0) {
    rt().dispatch(
      OUTER,
      [a.t.binding, vec4Binding(b.t, n), vec4Binding(c, m * n)],
      Math.ceil(m / 4) * (n / 4),
      params([m, n]),
    );
    return c;
  }
  rt().dispatch(
    GEMM,
    [a.t.binding, b.t.binding, (opt.bias ?? a.t).binding, c.binding],
    Math.ceil(m / 4) * Math.ceil(n / 4),
    params([m, n, k, a.sr, a.sc, b.sr, b.sc, flags]),
  );
  return c;
}

/** Row-major GEMM kernels: the 4×8-tile one or a wide-tile one (WIDE_TILES). */
export type NnVariant = "vec4" | keyof typeof WIDE_TILES;

/** Power-of-two bucket of a dimension: the autotuner's shape class. */
const bucket = (d: number) => 2 ** Math.round(Math.log2(Math.max(1, d)));

/**
 * The row-major kernel for a shape: tuned per adapter where several are plausible, else by the
 * rule measured on llvmpipe (the 16×16 tile wins for m ≥ 16, n ≥ 64: about even at 16×96×256,
 * 2.5× at 1024³, where 32×32 wins again; batch-1 layers keep 4×8 tiles).
 */
function nnVariant(m: number, n: number, k: number): NnVariant {
  if (m < 8 || n < 32) return "vec4";
  const fallback: NnVariant = m >= 256 && n >= 256
    ? "wide32"
    : m >= 16 && n >= 64
    ? "wide"
    : "vec4";
  const [bm, bn, bk] = [bucket(m), bucket(n), bucket(k)];
  // "gemm_nn2": the candidate list grew (wide32), so earlier cached choices are not reused.
  return autotuner().choose(`gemm_nn2:${bm}x${bn}x${bk}`, fallback, () => {
    // Representative operands of the bucket's size (multiples of 4 as the kernels need).
    const [tm, tn, tk] = [bm, Math.max(4, bn), Math.max(4, bk)];
    const a = Tensor.from(new Float32Array(tm * tk).fill(0.5), [tm, tk]);
    const b = Tensor.from(new Float32Array(tk * tn).fill(0.25), [tk, tn]);
    const out = Tensor.empty([tm, tn]);
    const variants: NnVariant[] = [
      "vec4",
      "wide",
      ...(bm >= 32 && bn >= 128 ? ["wide32" as const] : []),
    ];
    return variants.map((v): Candidate => ({
      name: v,
      run: () => gemmNnAs(v, tm, tn, tk, a, b, out),
      dispose: () => [a, b, out].forEach((t) => t.dispose()),
    }));
  }) as NnVariant;
}

/**
 * Records a row-major GEMM with a given kernel (gemm() passes its choice; tuning and tests
 * force one). `flags`: bit 0 bias, bit 1 ReLU, bit 2 accumulate into c.
 */
export function gemmNnAs(
  v: NnVariant,
  m: number,
  n: number,
  k: number,
  a: Tensor,
  b: Tensor,
  c: Tensor,
  bias: Tensor | null = null,
  flags = 0,
) {
  const biasOrDummy = bias ?? a;
  if (v !== "vec4") {
    const t = wideTile(n, WIDE_TILES[v]);
    rt().dispatch(
      gemmWideKernel(t),
      [
        vec4Binding(a, m * k),
        vec4Binding(b, k * n),
        vec4Binding(biasOrDummy, bias ? n : m * k),
        vec4Binding(c, m * n),
      ],
      wideThreads(t, m, n),
      params([m, n, k, flags]),
    );
  } else {
    rt().dispatch(
      GEMM_NN_VEC4,
      [vec4Binding(a, m * k), vec4Binding(b, k * n), biasOrDummy.binding, c.binding],
      Math.ceil(m / 4) * Math.ceil(n / 8),
      params([m, n, k, flags]),
    );
  }
}

/** A binding of the first `elements` values as whole vec4s (pooled buffers are 256-byte sized). */
export function vec4Binding(t: Tensor, elements: number) {
  return { buffer: t.buffer, offset: t.offset, size: Math.ceil(elements / 4) * 16 };
}

/**
 * The batch-1 backward in one dispatch (linear_backward_b1.wgsl) instead of the ReLU mask, the
 * input-gradient GEMM and the outer product: [dx, dW, db], the same bits as those kernels.
 * `y` is the layer's output (its ReLU mask when `relu`); needs in features % 4 = 0. The input
 * gradient is computed when `wantDx` (default: when x requires grad).
 */
export function linearBackwardBatch1(
  dy: Tensor,
  y: Tensor,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  relu: boolean,
  wantDx = x.requiresGrad,
): (Tensor | null)[] {
  const [n, k] = weight.shape;
  const hasBias = !!bias;
  const dw = gradientFor(weight, [n, k]);
  const db = bias ? gradientFor(bias, [n]) : Tensor.empty([n]);
  // Without an input gradient its binding gets a scratch tensor and no threads.
  const dx = Tensor.empty(wantDx ? [1, k] : [4]);
  const xThreads = wantDx ? (n % 4 === 0 ? Math.ceil(k / 8) : k / 4) : 0;
  rt().dispatch(
    BACKWARD_B1,
    [
      vec4Binding(dy, n),
      vec4Binding(y, n),
      vec4Binding(x, k),
      vec4Binding(weight, n * k),
      vec4Binding(dw, n * k),
      db.binding,
      dx.binding,
    ],
    Math.ceil(n / 4) * (k / 4) + xThreads,
    params([n, k, relu ? 1 : 0, xThreads]),
  );
  if (!hasBias) db.dispose();
  if (!wantDx) dx.dispose();
  return [wantDx ? dx : null, dw, hasBias ? db : null];
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
    if (m === 1 && k % 4 === 0) {
      return linearBackwardBatch1(dy, y, x, weight, bias, !!opt.relu);
    }
    const g = opt.relu ? reluBackward(y, dy) : dy;
    const grads = [
      // dx[m×k] = dy[m×n] · W[n×k]
      x.requiresGrad ? gemm(m, k, n, { t: g, sr: n, sc: 1 }, { t: weight, sr: k, sc: 1 }) : null,
      // dW[n×k] = dyᵀ[n×m] · x[m×k]
      weight.requiresGrad
        ? gemm(n, k, m, { t: g, sr: 1, sc: n }, { t: x, sr: k, sc: 1 }, {
          out: gradientFor(weight, [n, k]),
        })
        : null,
      // At batch 1 the bias gradient is dy itself: a view, no dispatch.
      bias?.requiresGrad
        ? (m === 1 ? g.reshape([n]) : reduceSum(g, m, n, 1, gradientFor(bias, [n])))
        : null,
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

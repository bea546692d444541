// The wide-tile GEMM kernel (gemm() picks it for row-major A and B with m ≥ 16 and n ≥ 64)
// against float64: ragged row and column tiles, bias / ReLU / accumulate flags, and the
// linear layer's input gradient (dy·W, row-major) through it. Out-of-range stores would land
// in the clamped last element of the bound output and fail the comparisons.
import { assertClose, checkGradients } from "./grad_check.ts";
import { initRuntime } from "../nn/runtime.ts";
import { Tensor } from "../nn/tensor.ts";
import { gemm, gemmNnAs, linear, linearReference, WIDE_TILE, wideTile } from "../nn/ops/linear.ts";

function reference(
  a: Float32Array,
  b: Float32Array,
  m: number,
  n: number,
  k: number,
  opt: { bias?: Float32Array; relu?: boolean; prior?: Float32Array },
): Float64Array {
  const want = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = opt.bias ? opt.bias[j] : 0;
      for (let q = 0; q < k; q++) s += a[i * k + q] * b[q * n + j];
      if (opt.relu) s = Math.max(s, 0);
      want[i * n + j] = s + (opt.prior ? opt.prior[i * n + j] : 0);
    }
  }
  return want;
}

// [m, k, n]: one exact tile, then m and n off the tile (rows 16, columns 4·4 = 16), a large k,
// and enough threads for several workgroups; the last (m, n ≥ 256) takes the 32×32 tile.
const shapes = [[16, 4, 64], [37, 12, 68], [50, 36, 100], [129, 260, 84], [300, 20, 1000]];

Deno.test("gemm wide tile: uses a 16×16 tile, runs of 8, 4 and 1 threads (the shapes below assume it)", () => {
  if (WIDE_TILE.r !== 16 || WIDE_TILE.v !== 4) throw new Error("update the test shapes");
  const runs = [64, 68, 1000].map((n) => wideTile(n).l).join(",");
  if (runs !== "4,1,8") throw new Error(`update the test shapes (runs ${runs})`);
});

for (const [m, k, n] of shapes) {
  for (const flags of [0, 1, 2, 3, 4, 7]) {
    const bias = (flags & 1) !== 0, relu = (flags & 2) !== 0, accumulate = (flags & 4) !== 0;
    Deno.test(`gemm wide ${m}×${k}×${n} bias=${bias} relu=${relu} acc=${accumulate}`, async () => {
      await initRuntime();
      const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37 + m));
      const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.11 + n));
      const bv = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.3) * 2);
      const prior = Float32Array.from({ length: m * n }, (_, i) => Math.cos(i * 0.7));
      const ta = Tensor.from(a, [m, k]);
      const tb = Tensor.from(b, [k, n]);
      const tbias = Tensor.from(bv, [n]);
      // Always pass `out`: without accumulate its old values must be overwritten.
      const out = Tensor.from(prior, [m, n]);
      const c = gemm(m, n, k, { t: ta, sr: k, sc: 1 }, { t: tb, sr: n, sc: 1 }, {
        bias: bias ? tbias : null,
        relu,
        accumulate,
        out,
      });
      const want = reference(a, b, m, n, k, {
        bias: bias ? bv : undefined,
        relu,
        prior: accumulate ? prior : undefined,
      });
      assertClose(await c.read(), want, `gemm ${m}×${k}×${n} flags ${flags}`, 1e-4, 1e-4);
      for (const t of [ta, tb, tbias, out]) t.dispose();
    });
  }
}

// dx[18×68] = dy[18×20]·W[20×68]: both row-major, m ≥ 16, n ≥ 64.
Deno.test("linear 18×68 → 20: input gradient dy·W through the wide tile", () =>
  checkGradients({
    name: "linear",
    inputs: [{ shape: [18, 68], grad: true }, { shape: [20, 68], grad: true }, {
      shape: [20],
      grad: true,
    }],
    gpu: ([x, w, b]) => linear(x, w, b, { relu: true }),
    reference: ([x, w, b]) => linearReference(x, [18, 68], w, [20, 68], b, { relu: true }).data,
  }));

Deno.test("gemm: the wide and 4×8 kernels give bit-identical results (tuning never changes numbers)", async () => {
  await initRuntime();
  for (const [m, k, n] of [[16, 4, 64], [37, 12, 68], [129, 260, 84], [40, 8, 1000]]) {
    const a = Tensor.from(Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37)), [
      m,
      k,
    ]);
    const b = Tensor.from(Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.11)), [
      k,
      n,
    ]);
    const tiles = Tensor.empty([m, n]);
    gemmNnAs("vec4", m, n, k, a, b, tiles);
    const t = await tiles.read();
    for (const variant of ["wide", "wide32"] as const) {
      const wide = Tensor.empty([m, n]);
      gemmNnAs(variant, m, n, k, a, b, wide);
      const w = await wide.read();
      const differ = w.findIndex((v, i) => v !== t[i]);
      if (differ >= 0) {
        throw new Error(
          `${m}×${k}×${n}: element ${differ} is ${w[differ]} (${variant}) vs ${t[differ]}`,
        );
      }
      wide.dispose();
    }
    for (const x of [a, b, tiles]) x.dispose();
  }
});

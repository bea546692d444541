// ResNet-18's convolutions, stem BatchNorm and stem max-pool at the shapes of real training
// (batch 32, 224²): the kernels, tiles, split-K chunks and dispatch grids chosen for big tensors
// are not the ones the small gradient checks reach. Each output and gradient is compared with a
// float64 sum at sampled entries, with a tolerance scaled by the sum of the terms' magnitudes
// (f32 rounding grows with it; a dropped chunk, a wrong index or a wrong tile edge does not fit).
import { initRuntime, rt } from "../nn/runtime.ts";
import { Tensor, tidy } from "../nn/tensor.ts";
import { conv2d, convOutSize } from "../nn/ops/conv2d.ts";
import { batchNorm2d } from "../nn/ops/batchnorm2d.ts";
import { maxPool2d } from "../nn/ops/maxpool2d.ts";
import { Rng } from "../data/rng.ts";

const BATCH = 32;

/** Random f32 values in [-1, 1). */
function randomF32(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(-1, 1);
  return a;
}

/** Fails when |got − want| exceeds `rel` × (sum of |terms|) + 1e-6. */
function expectSum(what: string, got: number, want: number, absSum: number, rel = 2e-5): void {
  const tol = rel * absSum + 1e-6;
  if (!(Math.abs(got - want) <= tol)) {
    throw new Error(`${what}: got ${got}, want ${want} (tolerance ${tol.toExponential(2)})`);
  }
}

interface ConvCase {
  name: string;
  ci: number;
  co: number;
  k: number;
  stride: number;
  padding: number;
  h: number;
  inputGrad: boolean;
}

// Every distinct convolution of ResNet-18 at 224² (the stem's input needs no gradient).
const CASES: ConvCase[] = [
  { name: "conv1 (stem)", ci: 1, co: 64, k: 7, stride: 2, padding: 3, h: 224, inputGrad: false },
  { name: "layer1 3×3", ci: 64, co: 64, k: 3, stride: 1, padding: 1, h: 56, inputGrad: true },
  { name: "layer2.0.conv1", ci: 64, co: 128, k: 3, stride: 2, padding: 1, h: 56, inputGrad: true },
  {
    name: "layer2.0.downsample",
    ci: 64,
    co: 128,
    k: 1,
    stride: 2,
    padding: 0,
    h: 56,
    inputGrad: true,
  },
  { name: "layer2 3×3", ci: 128, co: 128, k: 3, stride: 1, padding: 1, h: 28, inputGrad: true },
  { name: "layer3.0.conv1", ci: 128, co: 256, k: 3, stride: 2, padding: 1, h: 28, inputGrad: true },
  {
    name: "layer3.0.downsample",
    ci: 128,
    co: 256,
    k: 1,
    stride: 2,
    padding: 0,
    h: 28,
    inputGrad: true,
  },
  { name: "layer3 3×3", ci: 256, co: 256, k: 3, stride: 1, padding: 1, h: 14, inputGrad: true },
  { name: "layer4.0.conv1", ci: 256, co: 512, k: 3, stride: 2, padding: 1, h: 14, inputGrad: true },
  {
    name: "layer4.0.downsample",
    ci: 256,
    co: 512,
    k: 1,
    stride: 2,
    padding: 0,
    h: 14,
    inputGrad: true,
  },
  { name: "layer4 3×3", ci: 512, co: 512, k: 3, stride: 1, padding: 1, h: 7, inputGrad: true },
];

for (const c of CASES) {
  Deno.test(`ResNet-18 ${c.name} at batch ${BATCH}, 224²: forward and gradients (sampled f64)`, async () => {
    await initRuntime();
    const rng = new Rng(c.ci * 1000 + c.co + c.k);
    const { ci, co, k, stride: s, padding: p, h } = c;
    const oh = convOutSize(h, k, s, p);
    const x = randomF32(BATCH * ci * h * h, rng);
    const w = randomF32(co * ci * k * k, rng);
    const g = randomF32(BATCH * co * oh * oh, rng);
    const { y, dx, dw } = await rt().checked(async () => {
      const xt = Tensor.from(x, [BATCH, ci, h, h], c.inputGrad);
      const wt = Tensor.from(w, [co, ci, k, k], true);
      const yt = tidy(() => {
        const out = conv2d(xt, wt, null, { stride: s, padding: p });
        out.kept = true;
        out.backward(Tensor.from(g, out.shape));
        return out;
      });
      const y = await yt.read();
      const dx = c.inputGrad ? await xt.grad!.read() : null;
      const dw = await wt.grad!.read();
      for (const t of [yt, xt, wt, xt.grad, wt.grad]) t?.dispose();
      return { y, dx, dw };
    });
    const X = (n: number, c_: number, i: number, j: number) =>
      i < 0 || j < 0 || i >= h || j >= h ? 0 : x[((n * ci + c_) * h + i) * h + j];
    for (let t = 0; t < 400; t++) {
      const n = rng.int(BATCH), o = rng.int(co), i = rng.int(oh), j = rng.int(oh);
      let sum = 0, abs = 0;
      for (let q = 0; q < ci; q++) {
        for (let a = 0; a < k; a++) {
          for (let b = 0; b < k; b++) {
            const v = X(n, q, i * s - p + a, j * s - p + b) * w[((o * ci + q) * k + a) * k + b];
            sum += v;
            abs += Math.abs(v);
          }
        }
      }
      expectSum(`${c.name} y[${n},${o},${i},${j}]`, y[((n * co + o) * oh + i) * oh + j], sum, abs);
    }
    for (let t = 0; t < 40; t++) {
      const o = rng.int(co), q = rng.int(ci), a = rng.int(k), b = rng.int(k);
      let sum = 0, abs = 0;
      for (let n = 0; n < BATCH; n++) {
        for (let i = 0; i < oh; i++) {
          for (let j = 0; j < oh; j++) {
            const v = g[((n * co + o) * oh + i) * oh + j] * X(n, q, i * s - p + a, j * s - p + b);
            sum += v;
            abs += Math.abs(v);
          }
        }
      }
      expectSum(`${c.name} dw[${o},${q},${a},${b}]`, dw[((o * ci + q) * k + a) * k + b], sum, abs);
    }
    if (!dx) return;
    for (let t = 0; t < 400; t++) {
      // Half the samples on the border rows/columns, where padding and tile edges meet.
      const edge = t % 2 === 0;
      const n = rng.int(BATCH), q = rng.int(ci);
      const i = edge ? [0, h - 1][rng.int(2)] : rng.int(h);
      const j = edge ? rng.int(h) : rng.int(h);
      let sum = 0, abs = 0;
      for (let o = 0; o < co; o++) {
        for (let a = 0; a < k; a++) {
          const ti = i + p - a;
          if (ti < 0 || ti % s !== 0 || ti / s >= oh) continue;
          for (let b = 0; b < k; b++) {
            const tj = j + p - b;
            if (tj < 0 || tj % s !== 0 || tj / s >= oh) continue;
            const v = g[((n * co + o) * oh + ti / s) * oh + tj / s] *
              w[((o * ci + q) * k + a) * k + b];
            sum += v;
            abs += Math.abs(v);
          }
        }
      }
      expectSum(`${c.name} dx[${n},${q},${i},${j}]`, dx[((n * ci + q) * h + i) * h + j], sum, abs);
    }
  });
}

Deno.test(`ResNet-18 stem BatchNorm+ReLU and 3×3/2 max-pool at [${BATCH}, 64, 112, 112]: forward and gradients (sampled f64)`, async () => {
  await initRuntime();
  const rng = new Rng(77);
  const [n, c, h] = [BATCH, 64, 112];
  const hw = h * h, m = n * hw;
  const x = randomF32(n * c * hw, rng).map((v, i) => v + 0.1 * ((i / hw | 0) % c));
  const gamma = randomF32(c, rng).map((v) => 1 + 0.5 * v);
  const beta = randomF32(c, rng).map((v) => 0.2 * v);
  const ph = convOutSize(h, 3, 2, 1);
  const g = randomF32(n * c * ph * ph, rng);
  const out = await rt().checked(async () => {
    const xt = Tensor.from(x, [n, c, h, h], true);
    const gt = Tensor.from(gamma, [c], true);
    const bt = Tensor.from(beta, [c], true);
    const rm = Tensor.from(new Float32Array(c), [c]);
    const rv = Tensor.from(new Float32Array(c).fill(1), [c]);
    const { bn, pooled } = tidy(() => {
      const bn = batchNorm2d(xt, gt, bt, rm, rv, { training: true, relu: true });
      bn.kept = true;
      const pooled = maxPool2d(bn, { kernel: 3, stride: 2, padding: 1 });
      pooled.kept = true;
      pooled.backward(Tensor.from(g, pooled.shape));
      return { bn, pooled };
    });
    const r = {
      bn: await bn.read(),
      pooled: await pooled.read(),
      dx: await xt.grad!.read(),
      dgamma: await gt.grad!.read(),
      dbeta: await bt.grad!.read(),
      rm: await rm.read(),
      rv: await rv.read(),
    };
    for (const t of [bn, pooled, xt, gt, bt, rm, rv, xt.grad, gt.grad, bt.grad]) t?.dispose();
    return r;
  });
  // Max-pool: forward exact; its gradient routed to the window's maximum (dBN).
  const dbn = new Float64Array(n * c * hw);
  for (let pl = 0; pl < n * c; pl++) {
    for (let i = 0; i < ph; i++) {
      for (let j = 0; j < ph; j++) {
        let best = -Infinity, at = -1;
        for (let a = 0; a < 3; a++) {
          for (let b = 0; b < 3; b++) {
            const yi = 2 * i - 1 + a, xj = 2 * j - 1 + b;
            if (yi < 0 || xj < 0 || yi >= h || xj >= h) continue;
            const v = out.bn[pl * hw + yi * h + xj];
            if (v > best) [best, at] = [v, pl * hw + yi * h + xj];
          }
        }
        const o = (pl * ph + i) * ph + j;
        if (out.pooled[o] !== best) throw new Error(`max-pool y[${o}] ${out.pooled[o]} ≠ ${best}`);
        dbn[at] += g[o];
      }
    }
  }
  // BatchNorm: per sampled channel, the f64 forward and the analytic backward.
  for (const ch of [0, 1, 31, 63, rng.int(c), rng.int(c)]) {
    let sum = 0;
    for (let b = 0; b < n; b++) for (let i = 0; i < hw; i++) sum += x[(b * c + ch) * hw + i];
    const mean = sum / m;
    let q = 0;
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < hw; i++) q += (x[(b * c + ch) * hw + i] - mean) ** 2;
    }
    const variance = q / m, inv = 1 / Math.sqrt(variance + 1e-5);
    expectSum(`running mean[${ch}]`, out.rm[ch], 0.1 * mean, 1, 1e-5);
    expectSum(`running var[${ch}]`, out.rv[ch], 0.9 + 0.1 * variance * m / (m - 1), 1, 1e-5);
    let sdy = 0, sdyx = 0, sAbs = 0;
    const xhat = (j: number) => (x[j] - mean) * inv;
    const dyMasked = (j: number) => (out.bn[j] > 0 ? dbn[j] : 0);
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < hw; i++) {
        const j = (b * c + ch) * hw + i;
        const yv = Math.max(xhat(j) * gamma[ch] + beta[ch], 0);
        expectSum(`bn y[${j}]`, out.bn[j], yv, Math.abs(yv) + 1, 1e-5);
        sdy += dyMasked(j);
        sdyx += dyMasked(j) * xhat(j);
        sAbs += Math.abs(dyMasked(j));
      }
    }
    expectSum(`dbeta[${ch}]`, out.dbeta[ch], sdy, sAbs);
    expectSum(`dgamma[${ch}]`, out.dgamma[ch], sdyx, sAbs * 4);
    for (let t = 0; t < 200; t++) {
      const j = (rng.int(n) * c + ch) * hw + rng.int(hw);
      const want = gamma[ch] * inv / m * (m * dyMasked(j) - sdy - xhat(j) * sdyx);
      const scale = Math.abs(gamma[ch] * inv) * (Math.abs(dyMasked(j)) + 4 * sAbs / m);
      expectSum(`bn dx[${j}]`, out.dx[j], want, scale, 1e-4);
    }
  }
});

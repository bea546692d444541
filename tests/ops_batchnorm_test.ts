// BatchNorm2d (training and eval mode, fused ReLU) and global average pooling: GPU forward vs
// float64 reference, GPU backward vs finite differences, running statistics vs PyTorch's rule.
import { assertClose, checkGradients, randomData } from "./grad_check.ts";
import { batchNorm2d, batchNorm2dReference } from "../nn/ops/batchnorm2d.ts";
import { globalAvgPool, globalAvgPoolReference } from "../nn/ops/global_avg_pool.ts";
import { initRuntime } from "../nn/runtime.ts";
import { noGrad, Tensor } from "../nn/tensor.ts";
import { Rng } from "../data/rng.ts";

// The last three have planes of whole vec4s (the vec4 kernels); [2, 2, 18, 16] has more vec4s
// per plane than a workgroup has threads.
const shapes = [
  [3, 4, 5, 7],
  [2, 3, 1, 1],
  [1, 5, 6, 3],
  [4, 2, 9, 11],
  [2, 3, 4, 4],
  [3, 5, 2, 6],
  [
    2,
    2,
    18,
    16,
  ],
];

for (const shape of shapes) {
  for (const training of [true, false]) {
    for (const relu of [false, true]) {
      Deno.test(`batchNorm2d [${shape}] training=${training} relu=${relu}`, async () => {
        await initRuntime();
        const c = shape[1];
        const rng = new Rng(11);
        const rm = randomData(c, rng).map((v) => v * 0.3);
        const rv = randomData(c, rng).map((v) => 0.5 + Math.abs(v));
        await checkGradients({
          name: "batchNorm2d",
          inputs: [
            { shape, grad: true },
            {
              shape: [c],
              grad: true,
              data: randomData(c, rng).map((v) => Math.fround(1 + 0.5 * v)),
            },
            { shape: [c], grad: true },
          ],
          gpu: ([x, g, b]) =>
            batchNorm2d(
              x,
              g,
              b,
              Tensor.from(Float32Array.from(rm), [c]),
              Tensor.from(Float32Array.from(rv), [c]),
              {
                training,
                relu,
              },
            ),
          reference: ([x, g, b]) =>
            batchNorm2dReference(x, shape, g, b, rm, rv, { training, relu }).data,
          atol: 2e-4,
        });
      });
    }
  }
}

Deno.test("batchNorm2d updates running statistics like PyTorch (momentum 0.1, unbiased var)", async () => {
  await initRuntime();
  const shape = [4, 3, 5, 6];
  const rng = new Rng(3);
  const x = randomData(4 * 3 * 5 * 6, rng).map((v, i) => v * 2 + (i % 3));
  const ones = new Float64Array(3).fill(1);
  const zeros = new Float64Array(3);
  const rm = Tensor.from([0.1, 0.2, 0.3], [3]);
  const rv = Tensor.from([1, 2, 3], [3]);
  const xt = Tensor.from(Float32Array.from(x), shape);
  const g = Tensor.from([1, 1, 1], [3]);
  const b = Tensor.from([0, 0, 0], [3]);
  let wantM: Float64Array = Float64Array.of(0.1, 0.2, 0.3);
  let wantV: Float64Array = Float64Array.of(1, 2, 3);
  for (let step = 0; step < 3; step++) {
    noGrad(() => batchNorm2d(xt, g, b, rm, rv, { training: true }).dispose());
    const r = batchNorm2dReference(x, shape, ones, zeros, wantM, wantV, { training: true });
    wantM = r.runningMean;
    wantV = r.runningVar;
  }
  assertClose(await rm.read(), wantM, "running mean", 1e-5, 1e-5);
  assertClose(await rv.read(), wantV, "running var", 1e-5, 1e-5);
  for (const t of [rm, rv, xt, g, b]) t.dispose();
});

for (const shape of [[2, 3, 4, 5], [1, 1, 1, 1], [3, 2, 7, 7]]) {
  Deno.test(`globalAvgPool [${shape}]`, () =>
    checkGradients({
      name: "globalAvgPool",
      inputs: [{ shape, grad: true }],
      gpu: ([x]) => globalAvgPool(x),
      reference: ([x]) => globalAvgPoolReference(x, shape),
    }));
}

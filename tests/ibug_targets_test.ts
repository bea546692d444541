// Target standardisation: μ and σ of known data, the round trip raw → z → raw, and the folded
// head computing μ + σ·(Wx + b) while the layer's own weights come back bit for bit.
import assert from "node:assert/strict";
import {
  fitTargetScaling,
  standardize,
  unstandardize,
  withFoldedHead,
} from "../tasks/ibug_targets.ts";
import { Linear } from "../nn/layers.ts";
import { initRuntime } from "../nn/runtime.ts";
import { noGrad, Tensor } from "../nn/tensor.ts";
import { Rng } from "../data/rng.ts";

Deno.test("fitTargetScaling: per-output mean, one σ over all outputs", () => {
  const s = fitTargetScaling([[1, 10], [3, 14]], 2);
  assert.deepEqual(s.mean, [2, 12]);
  // Deviations ±1 and ±2: σ = sqrt((1 + 1 + 4 + 4) / 4).
  assert.ok(Math.abs(s.std - Math.sqrt(2.5)) < 1e-12);
  assert.deepEqual(fitTargetScaling([[5, 5], [5, 5]], 2), { mean: [5, 5], std: 1 });
  assert.throws(() => fitTargetScaling([], 2), /no targets/);
  assert.throws(() => fitTargetScaling([[NaN, 1]], 2), /not finite/);
});

Deno.test("standardize / unstandardize round trip", () => {
  const s = fitTargetScaling([[0.2, 0.4, 0.6], [0.3, 0.5, 0.9]], 3);
  const y = Float32Array.of(0.25, 0.45, 0.7, 0.1, 0.9, 0.5);
  const z = y.slice();
  standardize(s, z);
  assert.ok(Math.abs(z[0]) < 1e-6, "the mean maps to 0");
  const back = unstandardize(s, z);
  for (let i = 0; i < y.length; i++) assert.ok(Math.abs(back[i] - y[i]) < 1e-6);
});

Deno.test("withFoldedHead: the folded layer outputs μ + σ·(Wx + b); weights restored exactly", async () => {
  await initRuntime();
  const fc = new Linear(5, 3, { rng: new Rng(2) });
  const s = { mean: [0.3, 0.5, 0.7], std: 0.05 };
  const x = Tensor.from(Float32Array.of(0.1, -0.4, 0.9, 0.3, -0.2), [1, 5]);
  const w0 = await fc.weight.read(), b0 = await fc.bias!.read();
  const run = async () => {
    const y = noGrad(() => fc.forward(x));
    const v = await y.read();
    y.dispose();
    return v;
  };
  const plain = await run();
  const folded = await withFoldedHead(fc, s, run);
  const want = unstandardize(s, plain);
  for (let k = 0; k < 3; k++) assert.ok(Math.abs(folded[k] - want[k]) < 1e-6, `output ${k}`);
  assert.deepEqual(await fc.weight.read(), w0);
  assert.deepEqual(await fc.bias!.read(), b0);
  await assert.rejects(withFoldedHead(fc, s, () => Promise.reject(new Error("boom"))), /boom/);
  assert.deepEqual(await fc.weight.read(), w0, "restored after a failure too");
  fc.weight.dispose();
  fc.bias!.dispose();
  x.dispose();
});

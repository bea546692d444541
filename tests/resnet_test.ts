// ResNet-18: a residual block's gradients (with and without downsampling) against finite
// differences of a float64 reference; torchvision parameter names and counts; output shapes.
import assert from "node:assert/strict";
import { checkModuleGradients } from "./grad_check.ts";
import { BasicBlock, ResNet18, RESNET18_IBUG } from "../nn/models/resnet18.ts";
import { conv2dReference } from "../nn/ops/conv2d.ts";
import { batchNorm2dReference } from "../nn/ops/batchnorm2d.ts";
import { initRuntime } from "../nn/runtime.ts";
import { noGrad, Tensor } from "../nn/tensor.ts";
import { Rng } from "../data/rng.ts";

function blockReference(
  x: Float64Array,
  shape: number[],
  p: Map<string, Float64Array>,
  inC: number,
  outC: number,
  stride: number,
): Float64Array {
  const bn = (d: Float64Array, s: number[], name: string, relu: boolean) =>
    batchNorm2dReference(
      d,
      s,
      p.get(`${name}.weight`)!,
      p.get(`${name}.bias`)!,
      new Float64Array(s[1]),
      new Float64Array(s[1]).fill(1),
      { training: true, relu },
    ).data;
  const c1 = conv2dReference(x, shape, p.get("conv1.weight")!, [outC, inC, 3, 3], null, {
    stride,
    padding: 1,
  });
  const h1 = bn(c1.data, c1.shape, "bn1", true);
  const c2 = conv2dReference(h1, c1.shape, p.get("conv2.weight")!, [outC, outC, 3, 3], null, {
    padding: 1,
  });
  const h2 = bn(c2.data, c2.shape, "bn2", false);
  let identity = x;
  if (p.has("downsample.0.weight")) {
    const d = conv2dReference(x, shape, p.get("downsample.0.weight")!, [outC, inC, 1, 1], null, {
      stride,
    });
    identity = bn(d.data, d.shape, "downsample.1", false);
  }
  return h2.map((v, i) => Math.max(v + identity[i], 0));
}

for (const [inC, outC, stride] of [[3, 3, 1], [3, 4, 2]]) {
  Deno.test(`residual block ${inC}→${outC} stride ${stride} (training-mode BatchNorm): gradients`, async () => {
    await initRuntime();
    const block = new BasicBlock(inC, outC, stride, new Rng(4));
    // Non-trivial affine parameters so their gradients are exercised.
    for (const [name, t] of block.namedParameters()) {
      if (name.includes("bn") || name.startsWith("downsample.1")) {
        const d = await t.read();
        t.write(d.map((_, i) => (name.endsWith("weight") ? 1 + 0.1 * i : 0.05 * i)));
      }
    }
    const shape = [2, inC, 6, 5];
    await checkModuleGradients({
      name: "BasicBlock",
      module: block,
      inputShape: shape,
      reference: (x, p) => blockReference(x, shape, p, inC, outC, stride),
      samples: 16,
    });
    block.dispose();
  });
}

Deno.test("ResNet-18: torchvision names, parameter count, output shape in train and eval mode", async () => {
  await initRuntime();
  const model = new ResNet18({ ...RESNET18_IBUG, inputSize: 64 }, 0);
  const names = [...model.stateTensors().keys()];
  for (
    const n of [
      "conv1.weight",
      "bn1.running_var",
      "layer1.0.conv1.weight",
      "layer2.0.downsample.0.weight",
      "layer2.0.downsample.1.running_mean",
      "layer4.1.bn2.bias",
      "fc.weight",
      "fc.bias",
    ]
  ) assert.ok(names.includes(n), `missing ${n}`);
  assert.ok(!names.some((n) => n.startsWith("layer1.0.downsample")));
  // torchvision resnet18 has 11,689,512 parameters with a 3-channel stem and 1000 classes.
  assert.equal(
    model.parameterCount(),
    11_689_512 - 64 * 2 * 49 - (512 * 1000 + 1000) + 512 * 136 + 136,
  );
  const x = Tensor.from(new Float32Array(2 * 64 * 64).map((_, i) => Math.sin(i)), [2, 1, 64, 64]);
  for (const training of [true, false]) {
    model.train(training);
    const y = noGrad(() => model.forward(x));
    assert.deepEqual(y.shape, [2, 136]);
    const v = await y.read();
    assert.ok(v.every(Number.isFinite));
    y.dispose();
  }
  x.dispose();
  model.dispose();
});

// Whole-network checks: NoseNet's gradients against finite differences of a float64
// reference network, optimizer updates against PyTorch's formulas, and flat GPU memory over
// hundreds of training steps.
import assert from "node:assert/strict";
import { initRuntime, rt } from "../nn/runtime.ts";
import { noGrad, Tensor, tidy } from "../nn/tensor.ts";
import {
  FACENET,
  KeypointCnn,
  type KeypointCnnConfig,
  NOSENET,
} from "../nn/models/keypoint_cnn.ts";
import { conv2dReference } from "../nn/ops/conv2d.ts";
import { ResNet18, RESNET18_IBUG } from "../nn/models/resnet18.ts";
import { maxPool2dReference } from "../nn/ops/maxpool2d.ts";
import { linear, linearReference } from "../nn/ops/linear.ts";
import { mseLoss } from "../nn/ops/regression_loss.ts";
import { Adam, Sgd } from "../nn/optim.ts";
import { add, addInPlace } from "../nn/ops/elementwise.ts";
import { Rng } from "../data/rng.ts";
import { assertClose, checkModuleGradients, randomData } from "./grad_check.ts";

function referenceNet(cfg: KeypointCnnConfig, x: Float64Array, n: number, p: Float64Array[]) {
  let data = x;
  let shape = [n, 1, cfg.inputHeight, cfg.inputWidth];
  let inC = 1;
  cfg.channels.forEach((c, i) => {
    const ws = [c, inC, 3, 3];
    const conv = conv2dReference(data, shape, p[2 * i], ws, p[2 * i + 1], { relu: true });
    const pool = maxPool2dReference(conv.data, conv.shape, { kernel: 2 });
    data = pool.data;
    shape = pool.shape;
    inC = c;
  });
  const flat = data.length / n;
  const k = 2 * cfg.channels.length;
  const h = linearReference(data, [n, flat], p[k], [cfg.hidden, flat], p[k + 1], { relu: true });
  return linearReference(h.data, h.shape, p[k + 2], [cfg.outputs, cfg.hidden], p[k + 3]).data;
}

Deno.test("NoseNet (real channel widths, tiny 22×30 input, batch 2): gradients match finite differences", async () => {
  await initRuntime();
  const cfg = { ...NOSENET, inputHeight: 22, inputWidth: 30 };
  const model = new KeypointCnn(cfg, 3);
  const names = model.namedParameters().map(([n]) => n);
  await checkModuleGradients({
    name: "NoseNet",
    module: model,
    inputShape: [2, 1, cfg.inputHeight, cfg.inputWidth],
    reference: (x, p) => referenceNet(cfg, x, 2, names.map((n) => p.get(n)!)),
  });
  model.dispose();
});

function adamReference(w: number[], grads: (w: number[]) => number[], steps: number, lr: number) {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  for (let t = 1; t <= steps; t++) {
    const g = grads(w);
    for (let i = 0; i < w.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const mh = m[i] / (1 - b1 ** t);
      const vh = v[i] / (1 - b2 ** t);
      w[i] -= lr * mh / (Math.sqrt(vh) + eps);
    }
  }
  return w;
}

Deno.test("Adam and SGD-momentum match PyTorch's update rules", async () => {
  await initRuntime();
  const target = [0.5, -1, 2, 0.25, -0.75];
  const start = [0.1, 0.2, -0.3, 0.4, 1.5];
  // loss = mean((w - target)^2) → grad = 2 (w - target) / n
  const grads = (w: number[]) => w.map((v, i) => (2 * (v - target[i])) / w.length);
  for (const kind of ["adam", "sgd"] as const) {
    const w = Tensor.from(start, [5], true);
    const tgt = Tensor.from(target, [5]);
    const opt = kind === "adam"
      ? new Adam([w], { lr: 0.05 })
      : new Sgd([w], { lr: 0.1, momentum: 0.9 });
    for (let s = 0; s < 7; s++) {
      tidy(() => mseLoss(w, tgt).backward());
      opt.step();
    }
    const got = await w.read();
    let want: number[];
    if (kind === "adam") want = adamReference([...start], grads, 7, 0.05);
    else {
      want = [...start];
      const buf = want.map(() => 0);
      for (let t = 0; t < 7; t++) {
        const g = grads(want);
        for (let i = 0; i < 5; i++) {
          buf[i] = t === 0 ? g[i] : 0.9 * buf[i] + g[i];
          want[i] -= 0.1 * buf[i];
        }
      }
    }
    assertClose(got, want, kind, 1e-5, 1e-4);
    opt.dispose();
    w.dispose();
    tgt.dispose();
  }
});

Deno.test("Adam updates many parameters in runs of its flat buffers and its state round-trips", async () => {
  await initRuntime();
  const rng = new Rng(9);
  // 31 parameters of 1–9 values (most not whole vec4s), more than the adapter's bindings per
  // kernel. Every fifth one never gets a gradient and must stay as it was (its run is cut).
  const sizes = Array.from({ length: 31 }, (_, i) => 1 + (i * 7) % 9);
  const starts = sizes.map((n) => randomData(n, rng));
  const targets = sizes.map((n) => randomData(n, rng));
  const used = (i: number) => i % 5 !== 3;
  const ws = starts.map((d, i) => Tensor.from(d, [sizes[i]], true));
  const ts = targets.map((d, i) => Tensor.from(d, [sizes[i]]));
  const stepAll = (opt: Adam) => {
    tidy(() => {
      ws.forEach((w, i) => {
        if (used(i)) mseLoss(w, ts[i]).backward();
      });
    });
    opt.step();
  };
  let opt = new Adam(ws, { lr: 0.05 });
  for (let s = 0; s < 4; s++) stepAll(opt);
  // Resume from the saved state in a fresh optimizer, as a checkpoint does.
  const state = await opt.readState();
  opt.dispose();
  opt = new Adam(ws, { lr: 0.05 });
  opt.writeState((name, size) => {
    const d = state.get(name);
    assert(d && d.length === size, name);
    return d;
  });
  opt.restoreSteps(4);
  for (let s = 0; s < 3; s++) stepAll(opt);
  for (let i = 0; i < ws.length; i++) {
    const t = targets[i];
    const want = used(i)
      ? adamReference([...starts[i]], (w) => w.map((v, k) => (2 * (v - t[k])) / w.length), 7, 0.05)
      : starts[i];
    assertClose(await ws[i].read(), want, `parameter ${i}`, 1e-5, 1e-4);
  }
  opt.dispose();
  for (const t of [...ws, ...ts]) t.dispose();
});

Deno.test("Adam: one dispatch updates every parameter; backward writes into its buffers", async () => {
  await initRuntime();
  const models = [
    [() => new KeypointCnn(NOSENET, 1), [1, 1, 60, 80], 2],
    [() => new KeypointCnn(FACENET, 1), [1, 1, 120, 160], 116],
    // Batch 2: BatchNorm, strided convs without bias, the batched linear backward.
    [() => new ResNet18({ ...RESNET18_IBUG, inputSize: 32 }, 0), [2, 1, 32, 32], 136],
  ] as const;
  for (const [make, shape, outputs] of models) {
    const model = make().train();
    // A twin without an optimizer computes the same gradients the ordinary way.
    const twin = make().train();
    const params = model.parameters();
    const before = await Promise.all(params.map((p) => p.read()));
    const opt = new Adam(params);
    // Moving the parameters into the optimizer's buffer keeps their values.
    for (let i = 0; i < params.length; i++) {
      assert.deepEqual(await params[i].read(), before[i], params[i].name);
    }
    const rng = new Rng(4);
    const size = (shape as readonly number[]).reduce((a, b) => a * b, 1);
    const x = Tensor.from(Float32Array.from(randomData(size, rng)), [...shape]);
    const y = Tensor.from(
      Float32Array.from(randomData(shape[0] * outputs, rng)),
      [shape[0], outputs],
    );
    // Under error scopes: a binding WebGPU rejects would otherwise drop its dispatch silently.
    await rt().checked(() => {
      tidy(() => mseLoss(model.forward(x), y).backward());
      tidy(() => mseLoss(twin.forward(x), y).backward());
    });
    const twins = twin.parameters();
    for (const [i, p] of params.entries()) {
      // Every op wrote its parameter gradients straight into the optimizer's buffer (no copy).
      assert.ok(p.grad && p.grad.storage === p.gradTarget!.storage, `${p.name}: not in place`);
      assert.deepEqual(await p.grad.read(), await twins[i].grad!.read(), `${p.name} gradient`);
    }
    twin.dispose();
    const d0 = rt().stats().dispatches;
    await rt().checked(() => opt.step());
    assert.equal(rt().stats().dispatches - d0, 1, `${params.length} parameters, one dispatch`);
    opt.dispose();
    for (const p of params) assert.equal(p.gradTarget, null);
    model.dispose();
    x.dispose();
    y.dispose();
  }
});

Deno.test("Adam: a parameter used twice gets the sum of both gradients in its buffer", async () => {
  await initRuntime();
  // linear(x1, W) + linear(x2, W) at batch 1: both backwards would write W's gradient in place;
  // only the first may, the second is added to it.
  const rng = new Rng(5);
  const w = Tensor.from(Float32Array.from(randomData(8 * 4, rng)), [8, 4], true);
  const b = Tensor.from(Float32Array.from(randomData(8, rng)), [8], true);
  const x1v = randomData(4, rng), x2v = randomData(4, rng), tv = randomData(8, rng);
  const x1 = Tensor.from(Float32Array.from(x1v), [1, 4]);
  const x2 = Tensor.from(Float32Array.from(x2v), [1, 4]);
  const t = Tensor.from(Float32Array.from(tv), [1, 8]);
  const opt = new Adam([w, b]);
  tidy(() => mseLoss(add(linear(x1, w, b), linear(x2, w, b)), t).backward());
  const wv = await w.read(), bv = await b.read();
  const y = Array.from({ length: 8 }, (_, o) => {
    let s = 2 * bv[o];
    for (let i = 0; i < 4; i++) s += wv[o * 4 + i] * (x1v[i] + x2v[i]);
    return s;
  });
  const dy = y.map((v, o) => (2 * (v - tv[o])) / 8);
  const dw = dy.flatMap((d) => [0, 1, 2, 3].map((i) => d * (x1v[i] + x2v[i])));
  assertClose(await w.grad!.read(), dw, "dW", 1e-5, 1e-5);
  assertClose(await b.grad!.read(), dy.map((d) => 2 * d), "db", 1e-5, 1e-5);
  assert.ok(w.grad!.storage === w.gradTarget!.storage);
  opt.step();
  // A second Adam over the same parameters would leave the first updating a stale copy.
  assert.throws(() => new Adam([b]), /already belongs to another Adam; dispose\(\) that one/);
  opt.dispose();
  // An optimizer made inside tidy() keeps its buffers (they are not the scope's to free).
  const inner = tidy(() => new Adam([w, b]));
  tidy(() => mseLoss(linear(x1, w, b), t).backward());
  inner.step();
  assert.ok((await inner.readState()).get("0.exp_avg")!.some((v) => v !== 0));
  inner.dispose();
  for (const u of [w, b, x1, x2, t]) u.dispose();
});

Deno.test("KeypointCnn.mseLoss: the fused batch-1 head gives the bits of the unfused graph", async () => {
  await initRuntime();
  for (const cfg of [NOSENET, FACENET]) {
    const fused = new KeypointCnn(cfg, 3);
    const plain = new KeypointCnn(cfg, 3);
    const rng = new Rng(8);
    const [h, w] = [cfg.inputHeight, cfg.inputWidth];
    const x = Tensor.from(Float32Array.from(randomData(h * w, rng)), [1, 1, h, w]);
    const y = Tensor.from(Float32Array.from(randomData(cfg.outputs, rng)), [1, cfg.outputs]);
    // Seeded with ones (a training step) and with another seed (the general backward).
    for (const seed of [null, 0.37]) {
      const run = (loss: () => Tensor) =>
        tidy(() => {
          const l = loss();
          l.backward(seed === null ? undefined : Tensor.from([seed], [1]));
          return l;
        });
      const a = run(() => fused.mseLoss(x, y));
      const b = run(() => mseLoss(plain.forward(x), y));
      assert.deepEqual(await a.read(), await b.read(), "loss");
      const pa = fused.parameters(), pb = plain.parameters();
      for (let i = 0; i < pa.length; i++) {
        assert.deepEqual(await pa[i].grad!.read(), await pb[i].grad!.read(), pa[i].name);
        pa[i].grad!.dispose();
        pb[i].grad!.dispose();
        pa[i].grad = pb[i].grad = null;
      }
      a.dispose();
      b.dispose();
    }
    // Without gradients (evaluation) it is the loss alone, and batch 2 takes the unfused path.
    const l1 = noGrad(() => fused.mseLoss(x, y));
    assert.equal(l1.requiresGrad, false);
    const x2 = Tensor.from(Float32Array.from(randomData(2 * h * w, rng)), [2, 1, h, w]);
    const y2 = Tensor.from(Float32Array.from(randomData(2 * cfg.outputs, rng)), [2, cfg.outputs]);
    const l2 = noGrad(() => fused.mseLoss(x2, y2));
    const l2ref = noGrad(() => mseLoss(fused.forward(x2), y2));
    assert.deepEqual(await l2.read(), await l2ref.read());
    assert.throws(() => fused.mseLoss(x, y2), /target must be \[1, \d+\]/);
    for (const t of [x, y, x2, y2, l1, l2, l2ref]) t.dispose();
    fused.dispose();
    plain.dispose();
  }
});

Deno.test("GPU memory is flat over 600 training steps (buffers pooled, intermediates freed)", async () => {
  await initRuntime();
  const cfg = { ...NOSENET, inputHeight: 30, inputWidth: 40, channels: [4, 6, 8], hidden: 16 };
  const model = new KeypointCnn(cfg, 1);
  const opt = new Adam(model.parameters());
  const rng = new Rng(2);
  const x = Tensor.from(Float32Array.from(randomData(2 * 30 * 40, rng)), [2, 1, 30, 40]);
  const y = Tensor.from(Float32Array.from(randomData(4, rng)), [2, 2]);
  const lossSum = Tensor.from([0], [1]);
  let settled = rt().stats();
  const s0 = rt().stats();
  for (let step = 0; step < 600; step++) {
    tidy(() => {
      const loss = mseLoss(model.forward(x), y);
      // Accumulate on the GPU before backward releases the loss; read once at the end.
      addInPlace(lossSum, loss);
      loss.backward();
    });
    opt.step();
    await rt().endStep();
    // The pool's assignment of buffers to roles (hence bind groups) settles within a few dozen
    // steps; from then on nothing may grow.
    if (step === 99) settled = rt().stats();
  }
  const end = rt().stats();
  const total = (await lossSum.read())[0];
  assert(Number.isFinite(total) && total > 0, `accumulated loss ${total}`);
  assert.equal(end.liveBuffers, settled.liveBuffers, "live GPU buffers grew");
  assert.equal(end.liveBytes, settled.liveBytes, "live GPU bytes grew");
  // Bind groups are reused step after step, not created anew.
  assert.equal(end.bindGroups, settled.bindGroups, "bind group cache grew");
  // One submit per step: no hidden flushes inside the step.
  assert.equal(end.submits - s0.submits, 600);
  model.dispose();
  opt.dispose();
  for (const t of [x, y, lossSum]) t.dispose();
});

Deno.test("cached bind groups stay valid after the buffer pool is trimmed", async () => {
  await initRuntime();
  const cfg = { ...NOSENET, inputHeight: 30, inputWidth: 40, channels: [4, 6, 8], hidden: 16 };
  const model = new KeypointCnn(cfg, 3);
  const rng = new Rng(4);
  const data = Float32Array.from(randomData(30 * 40, rng));
  const run = () =>
    rt().checked(async () => {
      const x = Tensor.from(data, [1, 1, 30, 40]);
      const y = tidy(() => model.forward(x));
      const out = await y.read();
      x.dispose();
      y.dispose();
      return out;
    });
  const first = await run();
  rt().trimPool(); // destroys the pooled buffers the cached bind groups used
  const second = await run();
  assert.deepEqual(second, first);
  model.dispose();
});

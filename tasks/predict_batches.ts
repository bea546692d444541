/**
 * Batched inference over a tensor of inputs with a single readback at the end.
 * @module
 */

import type { Module } from "../nn/module.ts";
import { rt } from "../nn/runtime.ts";
import { keep, noGrad, Tensor, tidy } from "../nn/tensor.ts";

/**
 * Runs `model` in evaluation mode over `inputs` [N, ...] in batches of `batch`, collects the
 * outputs [N, K] on the GPU and reads them back once. Restores the previous train/eval mode.
 */
export async function predictAll(
  model: Module,
  inputs: Tensor,
  batch: number,
): Promise<Float32Array> {
  const n = inputs.shape[0];
  const per = inputs.size / n;
  const wasTraining = model.training;
  model.eval();
  let out: Tensor | null = null;
  try {
    for (let b = 0; b < n; b += batch) {
      const bs = Math.min(batch, n - b);
      noGrad(() =>
        tidy(() => {
          const x = Tensor.empty([bs, ...inputs.shape.slice(1)]);
          rt().copy(inputs.buffer, inputs.offset + b * per * 4, x.buffer, x.offset, bs * per * 4);
          const y = model.forward(x);
          const k = y.size / bs;
          if (!out) out = keep(Tensor.empty([n, k]));
          rt().copy(y.buffer, y.offset, out.buffer, out.offset + b * k * 4, bs * k * 4);
        })
      );
    }
    return await out!.read();
  } finally {
    (out as Tensor | null)?.dispose();
    model.train(wasTraining);
  }
}

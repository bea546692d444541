/**
 * Test helpers: compare a GPU op with its float64 reference, and its GPU backward with
 * central finite differences of the reference.
 */

import { initRuntime, rt } from "../nn/runtime.ts";
import { Tensor, tidy } from "../nn/tensor.ts";
import { Rng } from "../data/rng.ts";
import type { Module } from "../nn/module.ts";

/** One op input: its shape, whether to check its gradient, and optional fixed values. */
export interface InputSpec {
  shape: number[];
  grad?: boolean;
  data?: Float64Array;
  /** Keep values away from 0 by at least this (for ReLU kinks); default 0. */
  awayFromZero?: number;
}

/** Random f32-representable values (so GPU and reference see identical inputs). */
export function randomData(n: number, rng: Rng, awayFromZero = 0): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.uniform(-1, 1);
    if (awayFromZero > 0 && Math.abs(v) < awayFromZero) v = Math.sign(v || 1) * awayFromZero;
    out[i] = Math.fround(v);
  }
  return out;
}

function maxErr(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): { abs: number; rel: number; at: number } {
  let worst = { abs: 0, rel: 0, at: -1 };
  for (let i = 0; i < a.length; i++) {
    const abs = Math.abs(a[i] - b[i]);
    const rel = abs / Math.max(1e-3, Math.abs(b[i]));
    if (abs > worst.abs) worst = { abs, rel, at: i };
  }
  return worst;
}

/** Throws with a description when any |got - want| > atol + rtol·|want|. */
export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  what: string,
  atol = 1e-4,
  rtol = 1e-3,
): void {
  if (got.length !== want.length) {
    throw new Error(`${what}: length ${got.length} != ${want.length}`);
  }
  for (let i = 0; i < got.length; i++) {
    const tol = atol + rtol * Math.abs(want[i]);
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      const w = maxErr(got, want);
      throw new Error(
        `${what}: element ${i} got ${got[i]} want ${want[i]} (max abs err ${w.abs} at ${w.at})`,
      );
    }
  }
}

/**
 * Runs `gpu` on random inputs, checks its output against `reference`, then checks the GPU
 * gradient of sum(output · g) for a random g against central differences of the reference.
 */
export async function checkGradients(opts: {
  name: string;
  inputs: InputSpec[];
  gpu: (xs: Tensor[]) => Tensor;
  reference: (xs: Float64Array[]) => Float64Array;
  seed?: number;
  atol?: number;
  rtol?: number;
  /** Finite-difference step (float64). */
  eps?: number;
  /** Check this many random entries of each gradient (default: every entry). */
  samples?: number;
}): Promise<void> {
  await initRuntime();
  const rng = new Rng(opts.seed ?? 1);
  const xs = opts.inputs.map((s) =>
    s.data ?? randomData(s.shape.reduce((a, b) => a * b, 1), rng, s.awayFromZero)
  );
  const want = opts.reference(xs);
  const g = randomData(want.length, rng);
  const { out, grads } = await rt().checked(async () => {
    const tensors = xs.map((x, i) =>
      Tensor.from(Float32Array.from(x), opts.inputs[i].shape, opts.inputs[i].grad ?? false)
    );
    const y = tidy(() => {
      const y = opts.gpu(tensors);
      y.kept = true; // read after backward
      y.backward(Tensor.from(Float32Array.from(g), y.shape));
      return y;
    });
    const out = await y.read();
    y.dispose();
    const grads: (Float32Array | null)[] = [];
    for (const t of tensors) {
      grads.push(t.grad ? await t.grad.read() : null);
      t.grad?.dispose();
      t.dispose();
    }
    return { out, grads };
  });
  assertClose(out, want, `${opts.name} forward`, opts.atol ?? 1e-4, opts.rtol ?? 1e-3);
  const eps = opts.eps ?? 1e-6;
  xs.forEach((x, i) => {
    if (!opts.inputs[i].grad) return;
    const at = opts.samples !== undefined && opts.samples < x.length
      ? Array.from({ length: opts.samples }, () => rng.int(x.length))
      : [...x.keys()];
    const numeric = new Float64Array(at.length);
    for (const [k, j] of at.entries()) {
      const keepV = x[j];
      x[j] = keepV + eps;
      const plus = dot(opts.reference(xs), g);
      x[j] = keepV - eps;
      const minus = dot(opts.reference(xs), g);
      x[j] = keepV;
      numeric[k] = (plus - minus) / (2 * eps);
    }
    const got = grads[i];
    if (!got) throw new Error(`${opts.name}: input ${i} got no gradient`);
    assertClose(
      at.map((j) => got[j]),
      numeric,
      `${opts.name} grad of input ${i}`,
      opts.atol ?? 1e-3,
      opts.rtol ?? 2e-3,
    );
  });
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Whole-module check: the module's output on a random input matches `reference` (given the
 * input and the parameters by name, in float64), and the GPU gradient of every parameter
 * matches central finite differences of the reference at `samples` random entries per tensor.
 */
export async function checkModuleGradients(opts: {
  name: string;
  module: Module;
  inputShape: number[];
  reference: (x: Float64Array, p: Map<string, Float64Array>) => Float64Array;
  samples?: number;
  seed?: number;
}): Promise<void> {
  await initRuntime();
  const named = opts.module.namedParameters();
  const p = new Map<string, Float64Array>();
  for (const [name, t] of named) p.set(name, Float64Array.from(await t.read()));
  const rng = new Rng(opts.seed ?? 5);
  const x = randomData(opts.inputShape.reduce((a, b) => a * b, 1), rng);
  // The reference may update running statistics; give it copies of buffers via closures only.
  const want = opts.reference(x, p);
  const g = randomData(want.length, rng);
  const xt = Tensor.from(Float32Array.from(x), opts.inputShape);
  const out = await rt().checked(() =>
    tidy(() => {
      const y = opts.module.forward(xt);
      y.kept = true;
      y.backward(Tensor.from(Float32Array.from(g), y.shape));
      return y;
    })
  );
  assertClose(await out.read(), want, `${opts.name} forward`, 1e-4, 1e-3);
  out.dispose();
  xt.dispose();
  const eps = 1e-6;
  for (const [name, t] of named) {
    const got = await t.grad!.read();
    const values = p.get(name)!;
    for (let s = 0; s < Math.min(opts.samples ?? 24, t.size); s++) {
      const j = rng.int(t.size);
      const v = values[j];
      values[j] = v + eps;
      const plus = dot(opts.reference(x, p), g);
      values[j] = v - eps;
      const minus = dot(opts.reference(x, p), g);
      values[j] = v;
      assertClose([got[j]], [(plus - minus) / (2 * eps)], `d/d ${name}[${j}]`, 1e-4, 2e-3);
    }
    t.grad!.dispose();
    t.grad = null;
  }
}

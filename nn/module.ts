/**
 * The module base class: named parameters (PyTorch-style dotted names such as
 * `layer1.0.conv1.weight`), train/eval mode, and parameter initialisation.
 * @module
 */

import { Tensor } from "./tensor.ts";
import type { Rng } from "../data/rng.ts";

/** A layer or model: a function of tensors with named parameters and child modules. */
export abstract class Module {
  /** Whether the module is in training mode (BatchNorm uses batch statistics then). */
  training = true;
  #params = new Map<string, Tensor>();
  #buffers = new Map<string, Tensor>();
  #children = new Map<string, Module>();

  /** Computes the output for `x`. */
  abstract forward(x: Tensor): Tensor;

  /** Registers a trainable parameter under `name`. */
  protected param(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    t.name = name;
    this.#params.set(name, t);
    return t;
  }

  /** Registers a non-trained state tensor (e.g. BatchNorm running statistics). */
  protected buffer(name: string, t: Tensor): Tensor {
    t.name = name;
    this.#buffers.set(name, t);
    return t;
  }

  /** Registers a child module under `name` (its parameters become `name.*`). */
  protected child<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** All trainable parameters with their dotted names, in registration order. */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#params) out.push([prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Non-trained state tensors with their dotted names. */
  namedBuffers(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#buffers) out.push([prefix + n, t]);
    for (const [n, c] of this.#children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /** Trainable parameters. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Parameters and buffers by name: what a checkpoint stores (torchvision's state_dict). */
  stateTensors(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.parameters().reduce((s, t) => s + t.size, 0);
  }

  /** Sets training mode on this module and its children. */
  train(on = true): this {
    this.training = on;
    for (const c of this.#children.values()) c.train(on);
    return this;
  }

  /** Sets evaluation mode (same as `train(false)`). */
  eval(): this {
    return this.train(false);
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const t of this.stateTensors().values()) t.dispose();
  }
}

/**
 * PyTorch's default initialisation for Conv2d and Linear: weights and biases uniform in
 * ±1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)). Deterministic for a given `rng`.
 */
export function uniformInit(shape: number[], fanIn: number, rng: Rng): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.uniform(-bound, bound);
  return Tensor.from(data, shape);
}

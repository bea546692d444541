/**
 * Optimizers. Their step count and learning-rate multiplier live in a small GPU buffer, so a
 * step writes nothing from the CPU and can be recorded into the same submit as the backward.
 * @module
 */

import adamSrc from "../shaders/adam.wgsl" with { type: "text" };
import sgdSrc from "../shaders/sgd.wgsl" with { type: "text" };
import tickSrc from "../shaders/optimizer_tick.wgsl" with { type: "text" };
import { kernel, params as uniformWords } from "./kernel.ts";
import { rt } from "./runtime.ts";
import { Tensor } from "./tensor.ts";
import { fill } from "./ops/elementwise.ts";

const ADAM = kernel("adam", adamSrc);
const SGD = kernel("sgd", sgdSrc);
const TICK = kernel("optimizer_tick", tickSrc, 1);

/** Shared parts: parameter list, GPU step counter and learning-rate multiplier. */
export abstract class Optimizer {
  /** The parameters this optimizer updates, in order. */
  readonly params: Tensor[];
  /** GPU state: [step count, lr multiplier]. */
  protected readonly state: Tensor;
  #steps = 0;

  /** Takes the parameters to update; throws if there are none. */
  constructor(params: Tensor[]) {
    if (params.length === 0) throw new Error("facekit: optimizer given no parameters");
    this.params = params;
    this.state = Tensor.from([0, 1], [2]);
  }

  /** Number of `step()` calls so far. */
  get steps(): number {
    return this.#steps;
  }

  /** Scales the base learning rate (for schedules); takes effect from the next step. */
  setLrScale(scale: number): void {
    rt().write(this.state.buffer, new Float32Array([scale]), 4);
  }

  /** Applies one update using each parameter's `.grad`, then clears the gradients. */
  step(): void {
    rt().dispatch(TICK, [this.state.binding], 1);
    this.#steps++;
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i];
      if (!p.grad) continue; // unused in this graph: PyTorch skips it too
      this.update(i, p, p.grad);
    }
    this.zeroGrad();
  }

  /** Drops accumulated gradients (their buffers return to the pool). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Records the update of parameter `i`. */
  protected abstract update(i: number, p: Tensor, g: Tensor): void;

  /** Per-parameter state tensors by name, plus the step state (for checkpoints). */
  abstract stateTensors(): Map<string, Tensor>;

  /** Restores the CPU-side step count after loading state tensors. */
  restoreSteps(steps: number): void {
    this.#steps = steps;
  }

  /** Frees the optimizer's GPU state. */
  dispose(): void {
    for (const t of this.stateTensors().values()) t.dispose();
  }
}

/** Adam hyper-parameters (PyTorch defaults). */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay rate of the first-moment average (default 0.9). */
  beta1?: number;
  /** Decay rate of the second-moment average (default 0.999). */
  beta2?: number;
  /** Term added to the denominator for stability (default 1e-8). */
  eps?: number;
  /** Weight decay factor (default 0). */
  weightDecay?: number;
  /** AdamW-style decoupled weight decay instead of L2 in the gradient. */
  decoupled?: boolean;
}

/** Adam (Kingma & Ba) with bias correction, as `torch.optim.Adam`. */
export class Adam extends Optimizer {
  /** The hyper-parameters in use, defaults filled in. */
  readonly options: Required<AdamOptions>;
  #m: Tensor[];
  #v: Tensor[];
  #words: Uint32Array[];

  /** Allocates zeroed moment buffers for every parameter. */
  constructor(params: Tensor[], opt: AdamOptions = {}) {
    super(params);
    this.options = {
      lr: opt.lr ?? 1e-3,
      beta1: opt.beta1 ?? 0.9,
      beta2: opt.beta2 ?? 0.999,
      eps: opt.eps ?? 1e-8,
      weightDecay: opt.weightDecay ?? 0,
      decoupled: opt.decoupled ?? false,
    };
    const o = this.options;
    this.#m = params.map((p) => fill(p.shape, 0));
    this.#v = params.map((p) => fill(p.shape, 0));
    this.#words = params.map((p) =>
      uniformWords([Math.ceil(p.size / 4), o.decoupled ? 1 : 0], [
        o.lr,
        o.beta1,
        o.beta2,
        o.eps,
        o.weightDecay,
      ])
    );
  }

  /** Records the Adam update of parameter `i`. */
  protected update(i: number, p: Tensor, g: Tensor): void {
    const v4 = (t: Tensor) => ({ buffer: t.buffer, size: Math.ceil(t.size / 4) * 16 });
    rt().dispatch(
      ADAM,
      [v4(p), v4(g), v4(this.#m[i]), v4(this.#v[i]), this.state.binding],
      Math.ceil(p.size / 4),
      this.#words[i],
    );
  }

  /** `step_state` plus `i.exp_avg` and `i.exp_avg_sq` per parameter. */
  stateTensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>([["step_state", this.state]]);
    this.params.forEach((_, i) => {
      out.set(`${i}.exp_avg`, this.#m[i]);
      out.set(`${i}.exp_avg_sq`, this.#v[i]);
    });
    return out;
  }
}

/** SGD hyper-parameters. */
export interface SgdOptions {
  /** Learning rate (default 1e-2). */
  lr?: number;
  /** Momentum factor (default 0: plain SGD). */
  momentum?: number;
  /** L2 weight decay factor (default 0). */
  weightDecay?: number;
}

/** Stochastic gradient descent with optional momentum, as `torch.optim.SGD`. */
export class Sgd extends Optimizer {
  /** The hyper-parameters in use, defaults filled in. */
  readonly options: Required<SgdOptions>;
  #buf: Tensor[];
  #words: Uint32Array[];

  /** Allocates zeroed momentum buffers when `momentum` is non-zero. */
  constructor(params: Tensor[], opt: SgdOptions = {}) {
    super(params);
    this.options = {
      lr: opt.lr ?? 1e-2,
      momentum: opt.momentum ?? 0,
      weightDecay: opt.weightDecay ?? 0,
    };
    const o = this.options;
    this.#buf = params.map((p) => fill(o.momentum ? p.shape : [1], 0));
    this.#words = params.map((p) =>
      uniformWords([p.size, o.momentum ? 1 : 0], [o.lr, o.momentum, o.weightDecay])
    );
  }

  /** Records the SGD update of parameter `i`. */
  protected update(i: number, p: Tensor, g: Tensor): void {
    rt().dispatch(
      SGD,
      [p.binding, g.binding, this.#buf[i].binding, this.state.binding],
      p.size,
      this.#words[i],
    );
  }

  /** `step_state` plus `i.momentum_buffer` per parameter. */
  stateTensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>([["step_state", this.state]]);
    this.params.forEach((_, i) => out.set(`${i}.momentum_buffer`, this.#buf[i]));
    return out;
  }
}

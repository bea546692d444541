/**
 * Optimizers. Their step count and learning-rate multiplier live in a small GPU buffer, so a
 * step writes nothing from the CPU and can be recorded into the same submit as the backward.
 * @module
 */

import adamSrc from "../shaders/adam.wgsl" with { type: "text" };
import sgdSrc from "../shaders/sgd.wgsl" with { type: "text" };
import tickSrc from "../shaders/optimizer_tick.wgsl" with { type: "text" };
import { kernel, params as uniformWords } from "./kernel.ts";
import { arenaLayout, packTensors, TensorArena } from "./arena.ts";
import { rt } from "./runtime.ts";
import { keep, Tensor } from "./tensor.ts";
import { fill } from "./ops/elementwise.ts";

const SGD = kernel("sgd", sgdSrc);
const TICK = kernel("optimizer_tick", tickSrc, 1);

/** Shared parts: parameter list, GPU step counter and learning-rate multiplier. */
export abstract class Optimizer {
  /** The parameters this optimizer updates, in order. */
  readonly params: Tensor[];
  /**
   * GPU state: [step count, lr multiplier, second step-count slot, unused]. Adam keeps its count
   * in the two slots alternately (see {@link Adam}); SGD uses slot 0 and the tick.
   */
  protected readonly state: Tensor;
  /** Whether step() dispatches the tick that increments slot 0 (Adam counts in its update). */
  protected readonly usesTick: boolean = true;
  #steps = 0;

  /** Takes the parameters to update; throws if there are none. */
  constructor(params: Tensor[]) {
    if (params.length === 0) throw new Error("facekit: optimizer given no parameters");
    this.params = params;
    // Kept, like all optimizer state: an optimizer made inside tidy() outlives it.
    this.state = keep(Tensor.from([0, 1, 0, 0], [4]));
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
    if (this.usesTick) rt().dispatch(TICK, [this.state.binding], 1);
    this.#steps++;
    // Parameters without a gradient were unused in this graph: PyTorch skips them too.
    this.update(this.params.filter((p) => p.grad).map((p) => this.params.indexOf(p)));
    this.zeroGrad();
  }

  /** Drops accumulated gradients (their buffers return to the pool). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Records the update of the parameters at these indices (each has a `.grad`). */
  protected abstract update(indices: number[]): void;

  /**
   * The optimizer's GPU state by name with its shape (checkpoints store it): the step state,
   * then per-parameter entries such as `0.exp_avg`.
   */
  abstract stateShapes(): Map<string, number[]>;

  /** Reads the state named by {@link stateShapes} back from the GPU (waits for it). */
  abstract readState(): Promise<Map<string, Float32Array>>;

  /** Overwrites the state; `get(name)` returns the values for each name of {@link stateShapes}. */
  abstract writeState(get: (name: string, size: number) => Float32Array): void;

  /** `step_state` as checkpoints store it: [step count, lr multiplier]. */
  protected async readStepState(): Promise<Float32Array> {
    const s = await this.state.read();
    const slot = this.usesTick ? 0 : (this.#steps % 2) * 2;
    return Float32Array.of(s[slot], s[1]);
  }

  /** Restores `step_state` (both count slots, so either parity reads it). */
  protected writeStepState(v: Float32Array): void {
    this.state.write(Float32Array.of(v[0], v[1], v[0], 0));
  }

  /** Restores the CPU-side step count after loading state tensors. */
  restoreSteps(steps: number): void {
    this.#steps = steps;
  }

  /** Frees the optimizer's GPU state. */
  abstract dispose(): void;
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

/**
 * Parameters that share buffers: the parameters themselves (moved into an arena), their
 * gradient targets, and the moments m and v, all with one layout.
 */
interface AdamChunk {
  /** Indices into `params`. */
  members: number[];
  params: TensorArena;
  grads: TensorArena;
  m: Tensor;
  v: Tensor;
}

const ADAM = kernel("adam", adamSrc);

/**
 * Adam (Kingma & Ba) with bias correction, as `torch.optim.Adam`. The parameters move into one
 * buffer (a few if they exceed the adapter's binding size) and backward writes their gradients
 * into one more, so one dispatch updates them all. Its step count needs no tick dispatch: step
 * k reads count k - 1 from slot (k - 1) mod 2 and the last dispatch's first thread writes k
 * into the other slot, which no thread of step k reads.
 */
export class Adam extends Optimizer {
  /** The hyper-parameters in use, defaults filled in. */
  readonly options: Required<AdamOptions>;
  protected override readonly usesTick = false;
  #chunks: AdamChunk[] = [];
  #words: Uint32Array;

  /**
   * Moves the parameters into arenas (their Tensor objects stay the same) and allocates zeroed
   * moments and gradient targets with the same layout.
   */
  constructor(params: Tensor[], opt: AdamOptions = {}) {
    super(params);
    if (new Set(params).size !== params.length) {
      throw new Error("facekit: Adam given the same parameter twice");
    }
    // Its buffers would move the parameter away from the other optimizer's, which would then
    // go on updating a stale copy.
    const owned = params.find((p) => p.gradTarget);
    if (owned) {
      throw new Error(
        `facekit: parameter ${owned.name || `[${owned.shape}]`} already belongs to another ` +
          "Adam; dispose() that one first",
      );
    }
    this.options = {
      lr: opt.lr ?? 1e-3,
      beta1: opt.beta1 ?? 0.9,
      beta2: opt.beta2 ?? 0.999,
      eps: opt.eps ?? 1e-8,
      weightDecay: opt.weightDecay ?? 0,
      decoupled: opt.decoupled ?? false,
    };
    const o = this.options;
    this.#words = uniformWords([0, o.decoupled ? 1 : 0], [
      o.lr,
      o.beta1,
      o.beta2,
      o.eps,
      o.weightDecay,
      1 - o.beta1,
      1 - o.beta2,
      Math.log(o.beta1),
      Math.log(o.beta2),
    ]);
    // Chunks as large as one binding allows.
    const max = rt().maxBindingBytes;
    const slice = arenaLayout(params.map((p) => p.size)).sliceBytes;
    let members: number[] = [];
    let bytes = 0;
    const close = () => {
      if (members.length === 0) return;
      const tensors = members.map((i) => params[i]);
      const grads = new TensorArena(tensors.map((p) => p.shape));
      tensors.forEach((p, j) => p.gradTarget = grads.members[j]);
      const n = grads.layout.bytes / 4;
      this.#chunks.push({
        members,
        params: packTensors(tensors),
        grads,
        m: keep(fill([n], 0)),
        v: keep(fill([n], 0)),
      });
      members = [];
      bytes = 0;
    };
    params.forEach((_, i) => {
      if (bytes + slice[i] > max) close();
      members.push(i);
      bytes += slice[i];
    });
    close();
  }

  /**
   * Records one dispatch per run of consecutive parameters that have a gradient (one in all
   * for a model whose every parameter was used). A gradient that is not in its target (set by
   * hand, or by an op that allocates its own) is copied there first.
   */
  protected update(indices: number[]): void {
    const have = new Set(indices);
    // Count slots (state indices 0 and 2): read k - 1, write k; the last dispatch writes.
    const read = ((this.steps - 1) % 2) * 2;
    const runs: [AdamChunk, number, number][] = [];
    for (const chunk of this.#chunks) {
      let from = -1;
      chunk.members.forEach((i, j) => {
        const p = this.params[i];
        if (have.has(i)) {
          const target = chunk.grads.members[j];
          if (p.grad!.storage !== target.storage) {
            rt().copy(p.grad!.buffer, p.grad!.offset, target.buffer, target.offset, p.size * 4);
          }
          if (from < 0) from = j;
        } else if (from >= 0) {
          runs.push([chunk, from, j]);
          from = -1;
        }
      });
      if (from >= 0) runs.push([chunk, from, chunk.members.length]);
    }
    runs.forEach(([chunk, from, to], r) => {
      const range = chunk.params.range(from, to);
      const at = (t: Tensor) => ({ buffer: t.buffer, offset: range.offset, size: range.size });
      const words = new Uint32Array(12);
      words.set(this.#words);
      words[0] = range.size / 16;
      // Word 11: the slot read, plus bit 2 when this dispatch writes the new count.
      words[11] = read | (r === runs.length - 1 ? 4 : 0);
      rt().dispatch(
        ADAM,
        [at(chunk.m), at(chunk.v), this.state.binding, range, chunk.grads.range(from, to)],
        range.size / 16,
        words,
      );
    });
  }

  /** `step_state` plus `i.exp_avg` and `i.exp_avg_sq` per parameter. */
  stateShapes(): Map<string, number[]> {
    const out = new Map<string, number[]>([["step_state", [2]]]);
    this.params.forEach((p, i) => {
      out.set(`${i}.exp_avg`, [...p.shape]);
      out.set(`${i}.exp_avg_sq`, [...p.shape]);
    });
    return out;
  }

  /** Reads the step state and every parameter's moments. */
  async readState(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>([["step_state", await this.readStepState()]]);
    for (const c of this.#chunks) {
      const m = await c.m.read();
      const v = await c.v.read();
      c.members.forEach((i, j) => {
        const at = c.params.layout.offsets[j] / 4;
        const size = this.params[i].size;
        out.set(`${i}.exp_avg`, m.slice(at, at + size));
        out.set(`${i}.exp_avg_sq`, v.slice(at, at + size));
      });
    }
    return out;
  }

  /** Writes the step state and every parameter's moments. */
  writeState(get: (name: string, size: number) => Float32Array): void {
    this.writeStepState(get("step_state", 2));
    for (const c of this.#chunks) {
      const m = new Float32Array(c.m.size);
      const v = new Float32Array(c.v.size);
      c.members.forEach((i, j) => {
        const at = c.params.layout.offsets[j] / 4;
        const size = this.params[i].size;
        m.set(get(`${i}.exp_avg`, size), at);
        v.set(get(`${i}.exp_avg_sq`, size), at);
      });
      c.m.write(m);
      c.v.write(v);
    }
  }

  /**
   * Frees the moments, the gradient targets and the step state. The parameters stay in their
   * arena, which returns to the pool when they are disposed.
   */
  dispose(): void {
    this.state.dispose();
    for (const c of this.#chunks) {
      for (const i of c.members) {
        const p = this.params[i];
        p.gradTarget = null;
      }
      c.grads.dispose();
      c.params.dispose();
      c.m.dispose();
      c.v.dispose();
    }
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
    this.#buf = params.map((p) => keep(fill(o.momentum ? p.shape : [1], 0)));
    this.#words = params.map((p) =>
      uniformWords([p.size, o.momentum ? 1 : 0], [o.lr, o.momentum, o.weightDecay])
    );
  }

  /** Records the SGD update of each parameter (one dispatch each). */
  protected update(indices: number[]): void {
    for (const i of indices) {
      const p = this.params[i];
      rt().dispatch(
        SGD,
        [p.binding, p.grad!.binding, this.#buf[i].binding, this.state.binding],
        p.size,
        this.#words[i],
      );
    }
  }

  #tensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.params.forEach((_, i) => out.set(`${i}.momentum_buffer`, this.#buf[i]));
    return out;
  }

  /** `step_state` plus `i.momentum_buffer` per parameter. */
  stateShapes(): Map<string, number[]> {
    const out = new Map<string, number[]>([["step_state", [2]]]);
    for (const [k, t] of this.#tensors()) out.set(k, [...t.shape]);
    return out;
  }

  /** Reads the step state and the momentum buffers. */
  async readState(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>([["step_state", await this.readStepState()]]);
    for (const [k, t] of this.#tensors()) out.set(k, await t.read());
    return out;
  }

  /** Writes the step state and the momentum buffers. */
  writeState(get: (name: string, size: number) => Float32Array): void {
    this.writeStepState(get("step_state", 2));
    for (const [k, t] of this.#tensors()) t.write(get(k, t.size));
  }

  /** Frees the momentum buffers and the step state. */
  dispose(): void {
    this.state.dispose();
    for (const t of this.#tensors().values()) t.dispose();
  }
}

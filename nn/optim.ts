/**
 * Optimizers. Their step count and learning-rate multiplier live in a small GPU buffer, so a
 * step writes nothing from the CPU and can be recorded into the same submit as the backward.
 * @module
 */

import adamSrc from "../shaders/adam.wgsl" with { type: "text" };
import sgdSrc from "../shaders/sgd.wgsl" with { type: "text" };
import tickSrc from "../shaders/optimizer_tick.wgsl" with { type: "text" };
import { fillTemplate, kernel, params as uniformWords } from "./kernel.ts";
import { type Kernel, rt } from "./runtime.ts";
import { Tensor } from "./tensor.ts";
import { fill } from "./ops/elementwise.ts";

const SGD = kernel("sgd", sgdSrc);
const TICK = kernel("optimizer_tick", tickSrc, 1);
/** Most parameters one Adam dispatch updates (also bounded by the adapter's bindings). */
const ADAM_MAX_GROUP = 14;

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
    this.state = Tensor.from([0, 1, 0, 0], [4]);
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

/** Parameters updated by one Adam dispatch, with their moments in one flat m and v. */
interface AdamGroup {
  /** Indices into `params`. */
  members: number[];
  /** vec4 offset of each member's moments in m and v. */
  offsets: number[];
  m: Tensor;
  v: Tensor;
}

const adamKernels = new Map<number, Kernel>();

/** The Adam kernel for `count` parameters per dispatch (shaders/adam.wgsl filled). */
function adamKernel(count: number): Kernel {
  let k = adamKernels.get(count);
  if (!k) {
    const bindings: string[] = [];
    const load: string[] = [];
    const store: string[] = [];
    for (let j = 0; j < count; j++) {
      bindings.push(
        `@group(0) @binding(${4 + 2 * j}) var<storage, read_write> param${j}: array<vec4f>;`,
        `@group(0) @binding(${5 + 2 * j}) var<storage, read> grad${j}: array<vec4f>;`,
      );
      const first = j === 0;
      load.push(
        `  ${first ? "" : "} else "}if (i < end(${j}u)) {`,
        ...(first ? [] : [`    j = ${j}u;`, `    li = i - end(${j - 1}u);`]),
        `    w = param${j}[li];`,
        `    g = grad${j}[li];`,
      );
      store.push(`    case ${j}u: { param${j}[li] = nw; }`);
    }
    load.push("  }");
    const code = fillTemplate(adamSrc, {
      QUADS: Math.ceil(count / 4),
      BINDINGS: bindings.join("\n"),
      LOAD: load.join("\n"),
      STORE: ["  switch j {", ...store, "    default: {}", "  }"].join("\n"),
    });
    adamKernels.set(count, k = kernel(`adam_${count}`, code));
  }
  return k;
}

/**
 * Adam (Kingma & Ba) with bias correction, as `torch.optim.Adam`. Its step count needs no tick
 * dispatch: step k reads count k - 1 from slot (k - 1) mod 2 and the last group's first thread
 * writes k into the other slot, which no thread of step k reads (one dispatch fewer a step).
 */
export class Adam extends Optimizer {
  /** The hyper-parameters in use, defaults filled in. */
  readonly options: Required<AdamOptions>;
  protected override readonly usesTick = false;
  #groups: AdamGroup[] = [];

  /**
   * Allocates zeroed moments. Parameters are grouped so that one dispatch updates a whole
   * group: as many as the adapter's storage-buffer bindings allow (2 per parameter + m, v,
   * state), with each group's moments fitting one binding.
   */
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
    const perGroup = Math.max(
      1,
      Math.min(ADAM_MAX_GROUP, Math.floor((rt().maxStorageBuffers - 3) / 2)),
    );
    const maxVec4s = Math.floor(rt().maxBindingBytes / 16);
    let members: number[] = [];
    let offsets: number[] = [];
    let n4 = 0;
    const close = () => {
      if (members.length === 0) return;
      this.#groups.push({ members, offsets, m: fill([n4 * 4], 0), v: fill([n4 * 4], 0) });
      members = [];
      offsets = [];
      n4 = 0;
    };
    params.forEach((p, i) => {
      const size4 = Math.ceil(p.size / 4);
      if (members.length === perGroup || n4 + size4 > maxVec4s) close();
      members.push(i);
      offsets.push(n4);
      n4 += size4;
    });
    close();
  }

  /** Records one dispatch per group for the parameters that have a gradient. */
  protected update(indices: number[]): void {
    const have = new Set(indices);
    const o = this.options;
    const v4 = (t: Tensor) => ({ buffer: t.buffer, size: Math.ceil(t.size / 4) * 16 });
    // Count slots (state indices 0 and 2): read k - 1, write k; the last dispatched group writes.
    const read = ((this.steps - 1) % 2) * 2;
    const last = this.#groups.findLastIndex((g) => g.members.some((i) => have.has(i)));
    this.#groups.forEach((group, gi) => {
      const ends: number[] = [];
      const offs: number[] = [];
      const bindings = [group.m.binding, group.v.binding, this.state.binding];
      let n4 = 0;
      group.members.forEach((i, j) => {
        const p = this.params[i];
        if (!have.has(i)) return;
        n4 += Math.ceil(p.size / 4);
        ends.push(n4);
        offs.push(group.offsets[j]);
        bindings.push(v4(p), v4(p.grad!));
      });
      if (ends.length === 0) return;
      const quads = Math.ceil(ends.length / 4) * 4;
      const pad = (a: number[]) => [...a, ...Array(quads - a.length).fill(0)];
      const words = uniformWords([n4, o.decoupled ? 1 : 0], [
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
      const all = new Uint32Array(12 + 2 * quads);
      all.set(words);
      // Word 11: the slot read, plus bit 2 when this dispatch writes the new count.
      all[11] = read | (gi === last ? 4 : 0);
      all.set(pad(ends), 12);
      all.set(pad(offs), 12 + quads);
      rt().dispatch(adamKernel(ends.length), bindings, n4, all);
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
    for (const g of this.#groups) {
      const m = await g.m.read();
      const v = await g.v.read();
      g.members.forEach((i, j) => {
        const at = 4 * g.offsets[j];
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
    for (const g of this.#groups) {
      const m = new Float32Array(g.m.size);
      const v = new Float32Array(g.v.size);
      g.members.forEach((i, j) => {
        const size = this.params[i].size;
        m.set(get(`${i}.exp_avg`, size), 4 * g.offsets[j]);
        v.set(get(`${i}.exp_avg_sq`, size), 4 * g.offsets[j]);
      });
      g.m.write(m);
      g.v.write(v);
    }
  }

  /** Frees the moments and the step state. */
  dispose(): void {
    this.state.dispose();
    for (const g of this.#groups) {
      g.m.dispose();
      g.v.dispose();
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
    this.#buf = params.map((p) => fill(o.momentum ? p.shape : [1], 0));
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

/**
 * GPU tensors (f32, row-major / NCHW) and their lifetime rules.
 *
 * A tensor's storage is a pooled GPU buffer, shared by reshaped views through a reference
 * count. Lifetimes are explicit because the JS garbage collector does not see GPU memory:
 * - `tidy(fn)` disposes every tensor created inside `fn` except what `fn` returns and what was
 *   passed to `keep()`;
 * - `backward()` releases each intermediate as soon as the gradient pass has consumed it;
 * - parameters (created outside any `tidy`) live until `dispose()`.
 * @module
 */

import { rt } from "./runtime.ts";
import { type GradNode, runBackward } from "./autograd.ts";

/**
 * A tensor's bytes: a whole pooled buffer, or a slice of one shared by several tensors (see
 * nn/arena.ts), with the number of tensors using it.
 */
export interface Storage {
  buffer: GPUBuffer;
  /** First byte in `buffer` (0 for a whole buffer; aligned for a slice). */
  offset: number;
  /** Bytes this storage may use from `offset` (a slice's are rounded up to its alignment). */
  bytes: number;
  refs: number;
  /** For a slice: the storage of the whole buffer, which the slice holds one reference to. */
  parent?: Storage;
}

function releaseStorage(s: Storage): void {
  if (--s.refs > 0) return;
  if (s.parent) releaseStorage(s.parent);
  else rt().release(s.buffer);
}

const scopes: Set<Tensor>[] = [];
let gradEnabled = true;

/** Whether operations currently record the autograd graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording the autograd graph (evaluation, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Runs `fn` and disposes every tensor it created, except tensors reachable from its return
 * value (a tensor, an array or a plain object of them) and tensors passed to {@link keep}.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  for (const t of scope) {
    if (survivors.has(t)) scopes.at(-1)?.add(t);
    else t.dispose();
  }
  return result;
}

function collectTensors(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) { for (const x of v) collectTensors(x, out); }
  else if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collectTensors(x, out);
  }
}

/** Removes `t` from every enclosing `tidy` scope: the caller now owns it and must dispose it. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  t.kept = true;
  return t;
}

/** Number of elements of a shape. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`facekit: bad shape [${shape}]`);
    n *= d;
  }
  return n;
}

/** A float32 tensor on the GPU. */
export class Tensor {
  /** Dimensions, outermost first (NCHW for images). */
  readonly shape: readonly number[];
  /** Number of elements. */
  readonly size: number;
  /** Whether gradients flow to this tensor (parameters and what is computed from them). */
  requiresGrad: boolean;
  /** Accumulated gradient of a leaf tensor after `backward()`. */
  grad: Tensor | null = null;
  /** The operation that produced this tensor, while the graph is alive. */
  node: GradNode | null = null;
  /**
   * Where `backward()` puts this leaf's gradient when it has none yet: a slice of an
   * optimizer's flat gradient buffer, so one dispatch can update every parameter.
   */
  gradTarget: Tensor | null = null;
  /** Optional name (parameters use their state_dict name). */
  name = "";
  /** Set by {@link keep}: `backward()` will not release this tensor. */
  kept = false;
  #storage: Storage | null;
  #releasedBy = "";

  /** Wraps a storage; use the factory functions instead of calling this directly. */
  constructor(shape: readonly number[], storage: Storage, requiresGrad = false) {
    this.shape = Object.freeze([...shape]);
    this.size = shapeSize(shape);
    this.#storage = storage;
    this.requiresGrad = requiresGrad;
    scopes.at(-1)?.add(this);
  }

  /** A new uninitialised tensor (kernels fill it). */
  static empty(shape: readonly number[], requiresGrad = false): Tensor {
    const bytes = shapeSize(shape) * 4;
    return new Tensor(
      shape,
      { buffer: rt().allocate(bytes), offset: 0, bytes, refs: 1 },
      requiresGrad,
    );
  }

  /** A tensor holding a copy of `data`. */
  static from(data: ArrayLike<number>, shape: readonly number[], requiresGrad = false): Tensor {
    const size = shapeSize(shape);
    if (data.length !== size) {
      throw new Error(`facekit: ${data.length} values given for shape [${shape}] (${size})`);
    }
    const arr = data instanceof Float32Array ? data : Float32Array.from(data);
    const bytes = size * 4;
    const buffer = rt().allocate(bytes, true);
    if (size > 0) rt().write(buffer, arr);
    return new Tensor(shape, { buffer, offset: 0, bytes, refs: 1 }, requiresGrad);
  }

  /** A tensor over existing storage (a slice, or another view of it); takes a reference. */
  static over(shape: readonly number[], storage: Storage): Tensor {
    if (shapeSize(shape) * 4 > storage.bytes) {
      throw new Error(`facekit: shape [${shape}] does not fit a ${storage.bytes}-byte storage`);
    }
    storage.refs++;
    return new Tensor(shape, storage);
  }

  /** The GPU buffer (throws a clear error after disposal); the tensor starts at `offset`. */
  get buffer(): GPUBuffer {
    return this.storage.buffer;
  }

  /** Byte offset of the tensor in `buffer` (non-zero for slices of a shared buffer). */
  get offset(): number {
    return this.storage.offset;
  }

  /** Bytes usable from `offset`: the tensor's own, rounded up to its buffer or slice size. */
  get capacity(): number {
    const s = this.storage;
    return s.parent ? s.bytes : s.buffer.size - s.offset;
  }

  /** The storage (for nn/arena.ts; throws a clear error after disposal). */
  get storage(): Storage {
    if (!this.#storage) {
      throw new Error(
        `facekit: tensor [${this.shape}]${this.name ? ` "${this.name}"` : ""} was ${
          this.#releasedBy || "disposed"
        }; keep() it before backward() or tidy() ends to use it afterwards`,
      );
    }
    return this.#storage;
  }

  /**
   * Moves the tensor onto `storage`, which must already hold its values (nn/arena.ts packs
   * parameters this way); its old storage loses this tensor's reference. Views made earlier
   * with `reshape` stay on the old storage.
   */
  adopt(storage: Storage): void {
    const old = this.storage;
    if (shapeSize(this.shape) * 4 > storage.bytes) {
      throw new Error(
        `facekit: tensor [${this.shape}] does not fit a ${storage.bytes}-byte storage`,
      );
    }
    storage.refs++;
    this.#storage = storage;
    releaseStorage(old);
  }

  /** Buffer binding covering exactly this tensor's bytes. */
  get binding(): { buffer: GPUBuffer; offset: number; size: number } {
    const s = this.storage;
    return { buffer: s.buffer, offset: s.offset, size: Math.max(4, this.size * 4) };
  }

  /** Whether the storage is still alive. */
  get isDisposed(): boolean {
    return this.#storage === null;
  }

  /** A tensor with another shape sharing this storage (no copy). Gradients flow through it. */
  reshape(shape: readonly number[]): Tensor {
    const resolved = resolveShape(shape, this.size);
    const storage = this.#storage;
    if (!storage) return void this.buffer as never; // throws the disposal error
    storage.refs++;
    const out = new Tensor(resolved, storage, false);
    if (this.requiresGrad && gradEnabled) {
      out.requiresGrad = true;
      out.node = {
        name: "reshape",
        inputs: [this],
        backward: (g) => [g.reshape(this.shape)],
      };
    }
    return out;
  }

  /** Overwrites the values from the CPU (flushes first if pending GPU work uses them). */
  write(data: Float32Array): void {
    if (data.length !== this.size) {
      throw new Error(`facekit: ${data.length} values written to tensor [${this.shape}]`);
    }
    if (this.size > 0) rt().write(this.buffer, data, this.offset);
  }

  /** Copies the values back to the CPU (waits for the GPU: never call inside a step loop). */
  async read(): Promise<Float32Array> {
    if (this.size === 0) return new Float32Array(0);
    return new Float32Array(await rt().read(this.buffer, this.size * 4, this.offset));
  }

  /** Returns the storage to the pool (views keep it alive until they are disposed too). */
  dispose(reason = ""): void {
    const s = this.#storage;
    if (!s) return;
    this.#storage = null;
    this.#releasedBy = reason;
    this.node = null;
    for (const scope of scopes) scope.delete(this);
    releaseStorage(s);
  }

  /** Computes gradients of this tensor with respect to every leaf that requires them. */
  backward(seed?: Tensor): void {
    runBackward(this, seed);
  }
}

function resolveShape(shape: readonly number[], size: number): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    const rest = shapeSize(out.filter((_, i) => i !== free));
    out[free] = rest === 0 ? 0 : size / rest;
  }
  if (shapeSize(out) !== size) {
    throw new Error(`facekit: cannot reshape ${size} elements to [${shape}]`);
  }
  return out;
}

/**
 * The runtime owns the device's mutable state: the pipeline cache, content-addressed uniform
 * buffers, the buffer pool, and the command encoder that collects a whole training step so it
 * is submitted once.
 *
 * Invariants the rest of facekit relies on:
 * - every dispatch is recorded into the open encoder; nothing is submitted until `flush()`;
 * - a buffer that the open encoder already uses is never the target of `queue.writeBuffer`
 *   (queue writes run before the whole command buffer and would corrupt earlier commands);
 * - uniform buffers are immutable and keyed by content, so a step that repeats the same shapes
 *   writes no uniforms at all;
 * - GPU memory is pooled: released buffers are reused by size class, never leaked.
 * @module
 */

import { getDevice, type GpuDevice } from "./device.ts";

/** A compute kernel: WGSL source whose entry point is `main`, with a 1-D workgroup size. */
export interface Kernel {
  /** Unique name; also the pipeline cache key together with `defines`. */
  name: string;
  /** WGSL source. Binding 0 is the uniform struct (if `uniforms` are passed), then storage. */
  code: string;
  /** Threads per workgroup; must match `@workgroup_size` in the code. */
  workgroupSize: number;
}

/** A storage binding: a whole pooled buffer or a byte range of it. */
export interface BufferBinding {
  /** The buffer to bind. */
  buffer: GPUBuffer;
  /** First byte bound (default 0; a multiple of the adapter's storage offset alignment). */
  offset?: number;
  /** Bytes bound from `offset` (rounded up to 4). */
  size: number;
}

/** One recorded dispatch (see {@link Runtime.capture}). */
export interface CapturedDispatch {
  /** Kernel name. */
  kernel: string;
  /** Invocations asked for. */
  threads: number;
  /** What was bound and dispatched. */
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  x: number;
  y: number;
}

/** Counters used by tests (memory stays flat) and the benchmark (dispatches per step). */
export interface RuntimeStats {
  /** Storage buffers currently allocated (in use or pooled). */
  liveBuffers: number;
  /** Bytes of those buffers (size-class rounded). */
  liveBytes: number;
  /** Released storage buffers waiting in the pool for reuse. */
  pooledBuffers: number;
  /** Dispatches recorded so far. */
  dispatches: number;
  /** Command buffers submitted so far. */
  submits: number;
  /** Compute pipelines in the cache. */
  pipelines: number;
  /** Content-addressed uniform buffers in the cache. */
  uniformBuffers: number;
  /** Bind groups in the cache. */
  bindGroups: number;
}

const USAGE_STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
const USAGE_READBACK = 0x01 | 0x08; // MAP_READ | COPY_DST
/** Cached bind groups kept at most (a ResNet-18 step uses a few hundred). */
const BIND_GROUP_CACHE = 4096;

/** Rounds a byte size up to a size class (quarter-octave steps) so pooled buffers get reused. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 4) * 4);
  if (b <= 4096) return Math.ceil(b / 256) * 256;
  const octave = 2 ** Math.floor(Math.log2(b));
  const step = octave / 4;
  return Math.ceil(b / step) * step;
}

/** See module doc. One instance per process, obtained with {@link initRuntime} / {@link rt}. */
export class Runtime {
  /** The WebGPU device everything runs on. */
  readonly device: GPUDevice;
  /** Human-readable adapter name. */
  readonly adapterName: string;
  /** True for software adapters such as llvmpipe or SwiftShader. */
  readonly isFallback: boolean;
  /** Largest byte size one storage binding may have on this adapter. */
  readonly maxBindingBytes: number;
  /** Largest workgroup count per grid dimension on this adapter. */
  readonly maxWorkgroupsPerDim: number;

  #pipelines = new Map<string, GPUComputePipeline>();
  #uniforms = new Map<string, GPUBuffer>();
  #free = new Map<number, GPUBuffer[]>();
  #readbackFree = new Map<number, GPUBuffer[]>();
  #bufferBytes = new WeakMap<GPUBuffer, number>();
  #bufferIds = new WeakMap<GPUBuffer, number>();
  #nextBufferId = 1;
  #bindGroups = new Map<string, GPUBindGroup>();
  #liveBuffers = 0;
  #liveBytes = 0;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #touched = new Set<GPUBuffer>();
  #dispatches = 0;
  #submits = 0;
  #submitsSinceSync = 0;
  #capture: CapturedDispatch[] | null = null;

  /** Wraps an acquired device; use {@link initRuntime} and {@link rt} rather than calling this. */
  constructor(gpu: GpuDevice) {
    this.device = gpu.device;
    this.adapterName = gpu.adapterName;
    this.isFallback = gpu.isFallback;
    this.maxBindingBytes = gpu.device.limits.maxStorageBufferBindingSize;
    this.maxWorkgroupsPerDim = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  }

  /** Current counters. */
  stats(): RuntimeStats {
    let pooled = 0;
    for (const l of this.#free.values()) pooled += l.length;
    return {
      liveBuffers: this.#liveBuffers,
      liveBytes: this.#liveBytes,
      pooledBuffers: pooled,
      dispatches: this.#dispatches,
      submits: this.#submits,
      pipelines: this.#pipelines.size,
      uniformBuffers: this.#uniforms.size,
      bindGroups: this.#bindGroups.size,
    };
  }

  // ---------------------------------------------------------------- buffers

  /**
   * Takes a storage buffer of at least `bytes` from the pool. With `forUpload`, the buffer is
   * one the open encoder does not use, so `queue.writeBuffer` into it is safe.
   */
  allocate(bytes: number, forUpload = false): GPUBuffer {
    if (bytes > this.maxBindingBytes) {
      throw new Error(
        `facekit: a tensor of ${bytes} bytes exceeds this adapter's maxStorageBufferBindingSize ` +
          `(${this.maxBindingBytes} bytes); use a smaller batch or input size`,
      );
    }
    const cls = sizeClass(bytes);
    const list = this.#free.get(cls);
    if (list && list.length > 0) {
      if (!forUpload) return list.pop()!;
      for (let i = list.length - 1; i >= 0; i--) {
        if (!this.#touched.has(list[i])) return list.splice(i, 1)[0];
      }
    }
    const buffer = this.device.createBuffer({ size: cls, usage: USAGE_STORAGE });
    this.#bufferBytes.set(buffer, cls);
    this.#liveBuffers++;
    this.#liveBytes += cls;
    return buffer;
  }

  /** Returns a buffer to the pool. Commands already recorded may still use it: that is safe. */
  release(buffer: GPUBuffer): void {
    const cls = this.#bufferBytes.get(buffer);
    if (cls === undefined) {
      throw new Error("facekit: released a buffer the runtime did not allocate");
    }
    let list = this.#free.get(cls);
    if (!list) this.#free.set(cls, list = []);
    list.push(buffer);
  }

  /** Destroys every pooled (unused) buffer, e.g. after a large evaluation pass. */
  trimPool(): void {
    this.flush();
    for (const list of this.#free.values()) {
      for (const b of list) {
        this.#liveBuffers--;
        this.#liveBytes -= this.#bufferBytes.get(b)!;
        b.destroy();
      }
    }
    this.#free.clear();
    this.#bindGroups.clear(); // some of them bound the destroyed buffers
  }

  /** Writes `data` into `buffer` at `byteOffset`, flushing first if the encoder uses it. */
  write(buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    if (this.#touched.has(buffer)) this.flush();
    this.device.queue.writeBuffer(
      buffer,
      byteOffset,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  // ---------------------------------------------------------------- kernels

  /** Returns the cached pipeline for a kernel, compiling it on first use. */
  pipeline(kernel: Kernel): GPUComputePipeline {
    let p = this.#pipelines.get(kernel.name);
    if (!p) {
      const module = this.device.createShaderModule({ label: kernel.name, code: kernel.code });
      p = this.device.createComputePipeline({
        label: kernel.name,
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      this.#pipelines.set(kernel.name, p);
    }
    return p;
  }

  /** An immutable uniform buffer holding these 32-bit words, shared by equal contents. */
  uniform(words: Uint32Array): GPUBuffer {
    let key = "";
    for (let i = 0; i < words.length; i++) key += words[i].toString(36) + ",";
    let buf = this.#uniforms.get(key);
    if (!buf) {
      const size = Math.max(16, Math.ceil(words.byteLength / 16) * 16);
      buf = this.device.createBuffer({ size, usage: 0x40 | 0x08 }); // UNIFORM | COPY_DST
      const padded = new Uint32Array(size / 4);
      padded.set(words);
      this.device.queue.writeBuffer(buf, 0, padded);
      this.#uniforms.set(key, buf);
    }
    return buf;
  }

  /**
   * Records one dispatch of `kernel` over `threads` invocations. The grid is 2-D when the
   * workgroup count exceeds the per-dimension limit; kernels compute their linear index as
   * `gid.x + gid.y * nwg.x * WORKGROUP_SIZE` and bounds-check it.
   */
  dispatch(
    kernel: Kernel,
    buffers: (GPUBuffer | BufferBinding)[],
    threads: number,
    uniforms?: Uint32Array,
  ): void {
    if (threads <= 0) return;
    const pipeline = this.pipeline(kernel);
    const uniform = uniforms ? this.uniform(uniforms) : null;
    // Pooled buffers recur step after step in the same roles, so bind groups are cached by
    // their contents (creating one costs more than the dispatch it serves on llvmpipe).
    let key = kernel.name;
    if (uniform) key += ":" + this.#bufferId(uniform);
    for (let i = 0; i < buffers.length; i++) {
      const b = buffers[i];
      const buffer = b instanceof GPUBuffer ? b : b.buffer;
      this.#touched.add(buffer);
      key += b instanceof GPUBuffer
        ? `,${this.#bufferId(buffer)}`
        : `,${this.#bufferId(buffer)}@${b.offset ?? 0}/${b.size}`;
    }
    let bindGroup = this.#bindGroups.get(key);
    if (!bindGroup) {
      const entries: GPUBindGroupEntry[] = [];
      if (uniform) entries.push({ binding: 0, resource: { buffer: uniform } });
      for (let i = 0; i < buffers.length; i++) {
        const b = buffers[i];
        const buffer = b instanceof GPUBuffer ? b : b.buffer;
        entries.push({
          binding: i + 1,
          resource: b instanceof GPUBuffer
            ? { buffer }
            : { buffer, offset: b.offset ?? 0, size: Math.ceil(b.size / 4) * 4 },
        });
      }
      bindGroup = this.device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries,
      });
      // Bounded: fresh buffers (user tensors) would otherwise grow the cache without end.
      if (this.#bindGroups.size >= BIND_GROUP_CACHE) this.#bindGroups.clear();
      this.#bindGroups.set(key, bindGroup);
    }
    const groups = Math.ceil(threads / kernel.workgroupSize);
    const max = this.maxWorkgroupsPerDim;
    const x = Math.min(groups, max);
    const y = Math.ceil(groups / x);
    if (y > max) throw new Error(`facekit: dispatch of ${threads} threads is too large`);
    const pass = this.#computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y);
    this.#dispatches++;
    this.#capture?.push({ kernel: kernel.name, threads, pipeline, bindGroup, x, y });
  }

  /**
   * Starts (or, with `false`, stops) recording a copy of every dispatch as it is made, for
   * per-kernel profiling (nn/profile.ts); returns what was recorded since the last start.
   */
  capture(on: boolean): CapturedDispatch[] {
    const got = this.#capture ?? [];
    this.#capture = on ? [] : null;
    return got;
  }

  /**
   * Submits `times` copies of a captured dispatch alone and waits for them: the profiler's
   * timing primitive. Its buffers must still exist (released to the pool is fine).
   */
  async replay(d: CapturedDispatch, times: number): Promise<void> {
    this.flush();
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    for (let i = 0; i < times; i++) pass.dispatchWorkgroups(d.x, d.y);
    pass.end();
    this.device.queue.submit([enc.finish()]);
    this.#submits++;
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Records a buffer-to-buffer copy into the open encoder. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    const enc = this.#openEncoder();
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    this.#touched.add(src);
    this.#touched.add(dst);
    enc.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  #bufferId(buffer: GPUBuffer): number {
    let id = this.#bufferIds.get(buffer);
    if (id === undefined) this.#bufferIds.set(buffer, id = this.#nextBufferId++);
    return id;
  }

  #openEncoder(): GPUCommandEncoder {
    this.#encoder ??= this.device.createCommandEncoder();
    return this.#encoder;
  }

  #computePass(): GPUComputePassEncoder {
    if (!this.#pass) this.#pass = this.#openEncoder().beginComputePass();
    return this.#pass;
  }

  // ---------------------------------------------------------------- submission

  /** Submits everything recorded so far as one command buffer (no-op when nothing is). */
  flush(): void {
    if (!this.#encoder) return;
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    this.device.queue.submit([this.#encoder.finish()]);
    this.#encoder = null;
    this.#touched.clear();
    this.#submits++;
    this.#submitsSinceSync++;
  }

  /**
   * Ends a training step: submits it, and every `window` submits waits for the queue so the
   * CPU never runs far ahead of the GPU (this waits; it does not read anything back).
   */
  async endStep(window = 16): Promise<void> {
    this.flush();
    if (this.#submitsSinceSync >= window) await this.sync();
  }

  /** Waits until all submitted work has finished. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.#submitsSinceSync = 0;
  }

  /** Copies `bytes` from `buffer` back to the CPU (flushes; costs milliseconds: not per step). */
  async read(buffer: GPUBuffer, bytes: number, byteOffset = 0): Promise<ArrayBuffer> {
    const cls = sizeClass(bytes);
    const list = this.#readbackFree.get(cls);
    const staging = list?.pop() ?? this.device.createBuffer({ size: cls, usage: USAGE_READBACK });
    this.copy(buffer, byteOffset, staging, 0, Math.ceil(bytes / 4) * 4);
    this.flush();
    await staging.mapAsync(GPUMapMode.READ, 0, cls);
    // Copy before unmap: the mapped range is detached by unmap.
    const out = staging.getMappedRange(0, cls).slice(0, bytes);
    staging.unmap();
    this.#submitsSinceSync = 0;
    let back = this.#readbackFree.get(cls);
    if (!back) this.#readbackFree.set(cls, back = []);
    back.push(staging);
    return out;
  }

  /** Runs `fn` and throws if WebGPU reported a validation or out-of-memory error meanwhile. */
  async checked<T>(fn: () => T | Promise<T>): Promise<T> {
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    let result: T | undefined;
    let failure: unknown = null;
    try {
      result = await fn();
      this.flush();
    } catch (e) {
      failure = e;
    }
    // Pop both scopes whatever happened, so later work is not captured by them.
    const validation = await this.device.popErrorScope();
    const oom = await this.device.popErrorScope();
    const gpuError = validation ?? oom;
    if (gpuError) throw new Error(`facekit: WebGPU error: ${gpuError.message}`);
    if (failure) throw failure;
    return result as T;
  }
}

let runtime: Runtime | null = null;

/** Returns the process-wide runtime, creating the device on first call. */
export async function initRuntime(): Promise<Runtime> {
  runtime ??= new Runtime(await getDevice());
  return runtime;
}

/** The runtime after {@link initRuntime} has resolved; throws a clear error before that. */
export function rt(): Runtime {
  if (!runtime) {
    throw new Error("facekit: call `await initRuntime()` before creating tensors or layers");
  }
  return runtime;
}

/**
 * Acquiring the one WebGPU device a facekit process uses.
 *
 * The device is requested with the adapter's own limits (never assumed larger), so kernels can
 * size their bindings and dispatch grids from `device.limits`.
 * @module
 */

/** Raised when WebGPU or an adapter is not available, with a message telling how to get one. */
export class NoWebGpuError extends Error {
  /**
   * Builds the message from what is missing.
   * @param detail what exactly is missing
   */
  constructor(detail: string) {
    super(
      `facekit needs WebGPU, but ${detail}.\n` +
        "  - Run with Deno >= 2.9 (navigator.gpu is built in; no --unstable flag is needed).\n" +
        "  - Linux without a GPU: install Mesa's software drivers (Debian: `apt-get install " +
        "libgl1-mesa-dri mesa-vulkan-drivers`) and try DENO_WEBGPU_BACKEND=gl or =vulkan.\n" +
        "  - Check that `deno eval 'console.log(await navigator.gpu?.requestAdapter())'` prints an " +
        "adapter.",
    );
    this.name = "NoWebGpuError";
  }
}

/** The device together with the adapter facts that decide kernel shapes. */
export interface GpuDevice {
  /** The WebGPU device all tensors live on. */
  device: GPUDevice;
  /** Human-readable adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  adapterName: string;
  /** True for software adapters such as llvmpipe or SwiftShader. */
  isFallback: boolean;
}

let pending: Promise<GpuDevice> | null = null;

/** Returns the process-wide device, requesting it on first use. */
export function getDevice(): Promise<GpuDevice> {
  pending ??= requestDevice().catch((e) => {
    pending = null; // let a later call retry, e.g. after the user fixed the environment
    throw e;
  });
  return pending;
}

async function requestDevice(): Promise<GpuDevice> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new NoWebGpuError("navigator.gpu is not defined in this runtime");
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new NoWebGpuError("navigator.gpu.requestAdapter() returned no adapter");
  const want = [
    "maxStorageBufferBindingSize",
    "maxBufferSize",
    "maxComputeWorkgroupStorageSize",
    "maxComputeInvocationsPerWorkgroup",
    "maxComputeWorkgroupSizeX",
    "maxComputeWorkgroupsPerDimension",
    "maxStorageBuffersPerShaderStage",
  ] as const;
  const requiredLimits: Record<string, number> = {};
  for (const k of want) requiredLimits[k] = adapter.limits[k];
  const device = await adapter.requestDevice({ requiredLimits });
  device.lost.then((info) => {
    if (info.reason !== "destroyed") console.error(`facekit: WebGPU device lost: ${info.message}`);
  });
  const info = adapter.info;
  return {
    device,
    adapterName: info.description || `${info.vendor} ${info.architecture} ${info.device}`.trim(),
    isFallback: info.isFallbackAdapter ?? false,
  };
}

/**
 * Layers: Conv2d, Linear, MaxPool2d, ReLU, Flatten, Sequential and BatchNorm2d.
 * @module
 */

import { Module, uniformInit } from "./module.ts";
import { Tensor } from "./tensor.ts";
import { conv2d } from "./ops/conv2d.ts";
import { linear } from "./ops/linear.ts";
import { maxPool2d } from "./ops/maxpool2d.ts";
import { relu } from "./ops/relu.ts";
import { batchNorm2d } from "./ops/batchnorm2d.ts";
import { Rng } from "../data/rng.ts";

/** Options shared by layers that create parameters. */
export interface InitOptions {
  /** Random source for the initial weights (default: a fixed seed). */
  rng?: Rng;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
}

/** 2-D convolution layer; `relu: true` fuses the activation into the kernel. */
export class Conv2d extends Module {
  /** Kernel weights, [outChannels, inChannels, kernelSize, kernelSize]. */
  readonly weight: Tensor;
  /** Per-output-channel bias, or null when created with `bias: false`. */
  readonly bias: Tensor | null;
  /** Stride in both directions. */
  readonly stride: number;
  /** Zero padding on each side. */
  readonly padding: number;
  /** Whether ReLU is fused into the convolution. */
  readonly relu: boolean;

  /** Creates the layer with PyTorch's default uniform initialisation. */
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    opt: InitOptions & { stride?: number; padding?: number; relu?: boolean } = {},
  ) {
    super();
    const rng = opt.rng ?? new Rng(0);
    const fanIn = inChannels * kernelSize * kernelSize;
    this.weight = this.param(
      "weight",
      uniformInit([outChannels, inChannels, kernelSize, kernelSize], fanIn, rng),
    );
    this.bias = opt.bias === false
      ? null
      : this.param("bias", uniformInit([outChannels], fanIn, rng));
    this.stride = opt.stride ?? 1;
    this.padding = opt.padding ?? 0;
    this.relu = opt.relu ?? false;
  }

  /** [N, inChannels, H, W] → [N, outChannels, H', W']. */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      relu: this.relu,
    });
  }

  /**
   * `forward` then a 2×2 stride-2 max-pool, fused into the convolution's kernels (one dispatch
   * fewer each way): [N, inChannels, H, W] → [N, outChannels, ⌊H'/2⌋, ⌊W'/2⌋].
   */
  forwardMaxPool2(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      relu: this.relu,
      pool: true,
    });
  }
}

/** Fully connected layer on [batch, features] input; `relu: true` fuses the activation. */
export class Linear extends Module {
  /** Weights, [outFeatures, inFeatures] (the PyTorch layout). */
  readonly weight: Tensor;
  /** Bias, [outFeatures], or null when created with `bias: false`. */
  readonly bias: Tensor | null;
  /** Whether ReLU is fused into the layer. */
  readonly relu: boolean;

  /** Creates the layer with PyTorch's default uniform initialisation. */
  constructor(inFeatures: number, outFeatures: number, opt: InitOptions & { relu?: boolean } = {}) {
    super();
    const rng = opt.rng ?? new Rng(0);
    this.weight = this.param("weight", uniformInit([outFeatures, inFeatures], inFeatures, rng));
    this.bias = opt.bias === false
      ? null
      : this.param("bias", uniformInit([outFeatures], inFeatures, rng));
    this.relu = opt.relu ?? false;
  }

  /** [N, inFeatures] → [N, outFeatures]. */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias, { relu: this.relu });
  }
}

/** Max-pooling layer. */
export class MaxPool2d extends Module {
  /**
   * Creates the layer (square windows).
   * @param kernel window side
   * @param stride step between windows (default: the window side)
   * @param padding padding on each side
   */
  constructor(
    readonly kernel: number,
    readonly stride: number = kernel,
    readonly padding: number = 0,
  ) {
    super();
  }

  /** Pools each channel of [N, C, H, W] input. */
  forward(x: Tensor): Tensor {
    return maxPool2d(x, { kernel: this.kernel, stride: this.stride, padding: this.padding });
  }
}

/** ReLU as a layer. */
export class ReLU extends Module {
  /** Elementwise max(x, 0). */
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** Flattens [N, ...] to [N, features] (a view, no copy). */
export class Flatten extends Module {
  /** [N, ...] → [N, features]. */
  forward(x: Tensor): Tensor {
    return x.reshape([x.shape[0], -1]);
  }
}

/** Applies child modules in order; children are named "0", "1", … like PyTorch. */
export class Sequential extends Module {
  /** The child modules, in application order. */
  readonly layers: Module[];

  /** Registers `layers` as children "0", "1", …. */
  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.child(String(i), m));
  }

  /** Feeds `x` through every layer in turn. */
  forward(x: Tensor): Tensor {
    let h = x;
    for (const m of this.layers) h = m.forward(h);
    return h;
  }
}

/** BatchNorm over the channels of NCHW input; `relu: true` fuses the activation. */
export class BatchNorm2d extends Module {
  /** Per-channel scale (gamma), initialised to 1. */
  readonly weight: Tensor;
  /** Per-channel shift (beta), initialised to 0. */
  readonly bias: Tensor;
  /** Running mean used in eval mode (state_dict name `running_mean`). */
  readonly runningMean: Tensor;
  /** Running variance used in eval mode (state_dict name `running_var`). */
  readonly runningVar: Tensor;

  /**
   * Creates the layer with weight 1, bias 0, running mean 0 and running variance 1.
   * @param channels number of channels C
   * @param opt running-average momentum, epsilon and fused ReLU (PyTorch defaults)
   */
  constructor(
    readonly channels: number,
    readonly opt: { momentum?: number; eps?: number; relu?: boolean } = {},
  ) {
    super();
    this.weight = this.param("weight", Tensor.from(new Float32Array(channels).fill(1), [channels]));
    this.bias = this.param("bias", Tensor.from(new Float32Array(channels), [channels]));
    this.runningMean = this.buffer(
      "running_mean",
      Tensor.from(new Float32Array(channels), [channels]),
    );
    this.runningVar = this.buffer(
      "running_var",
      Tensor.from(new Float32Array(channels).fill(1), [channels]),
    );
  }

  /** Normalises with batch statistics in training mode, running statistics in eval mode. */
  forward(x: Tensor): Tensor {
    return batchNorm2d(x, this.weight, this.bias, this.runningMean, this.runningVar, {
      training: this.training,
      momentum: this.opt.momentum,
      eps: this.opt.eps,
      relu: this.opt.relu,
    });
  }
}

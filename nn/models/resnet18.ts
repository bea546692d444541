/**
 * ResNet-18 in torchvision's layout (conv1, bn1, layer1.0.conv1 … layer4.1.bn2, fc), with a
 * configurable number of input channels (1 for gray faces) and outputs (136 = 68 points).
 * Parameter names equal torchvision's state_dict names, so weights load into PyTorch.
 * @module
 */

import { Module } from "../module.ts";
import { BatchNorm2d, Linear, MaxPool2d, Sequential } from "../layers.ts";
import { Tensor } from "../tensor.ts";
import { conv2d } from "../ops/conv2d.ts";
import { add } from "../ops/elementwise.ts";
import { relu } from "../ops/relu.ts";
import { globalAvgPool } from "../ops/global_avg_pool.ts";
import { Rng } from "../../data/rng.ts";

/** Architecture of a {@link ResNet18}; stored in `config.json` next to the weights. */
export interface ResNet18Config {
  /** Input channels (1 for gray). */
  inChannels: number;
  /** Input side in pixels (square input). */
  inputSize: number;
  /** Number of outputs (136 for 68 points). */
  outputs: number;
}

/** The 300-W configuration: 1×224×224 gray crops → 68 (x, y) points. */
export const RESNET18_IBUG: ResNet18Config = { inChannels: 1, inputSize: 224, outputs: 136 };

/** A bias-free convolution initialised like torchvision (Kaiming normal, fan-out, ReLU gain). */
export class ConvNoBias extends Module {
  /** Kernel weights, [outC, inC, k, k]. */
  readonly weight: Tensor;

  /**
   * Creates the layer, drawing the weights from `rng`.
   * @param inC input channels
   * @param outC output channels
   * @param k kernel side
   * @param stride stride in both directions
   * @param padding zero padding on each side
   * @param rng random source for the weights
   */
  constructor(
    inC: number,
    outC: number,
    readonly k: number,
    readonly stride: number,
    readonly padding: number,
    rng: Rng,
  ) {
    super();
    const std = Math.sqrt(2 / (outC * k * k));
    const data = new Float32Array(outC * inC * k * k);
    for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    this.weight = this.param("weight", Tensor.from(data, [outC, inC, k, k]));
  }

  /** [N, inC, H, W] → [N, outC, H', W']. */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, null, { stride: this.stride, padding: this.padding });
  }
}

/** torchvision's BasicBlock: conv-bn-relu-conv-bn, plus the (downsampled) input, then ReLU. */
export class BasicBlock extends Module {
  /** First 3×3 conv (carries the block's stride). */
  readonly conv1: ConvNoBias;
  /** BatchNorm after `conv1`, with fused ReLU. */
  readonly bn1: BatchNorm2d;
  /** Second 3×3 conv. */
  readonly conv2: ConvNoBias;
  /** BatchNorm after `conv2`. */
  readonly bn2: BatchNorm2d;
  /** 1×1 conv + BatchNorm on the shortcut when the shape changes, else null. */
  readonly downsample: Sequential | null;

  /** Builds a block from `inC` to `outC` channels, drawing conv weights from `rng`. */
  constructor(inC: number, outC: number, stride: number, rng: Rng) {
    super();
    this.conv1 = this.child("conv1", new ConvNoBias(inC, outC, 3, stride, 1, rng));
    this.bn1 = this.child("bn1", new BatchNorm2d(outC, { relu: true }));
    this.conv2 = this.child("conv2", new ConvNoBias(outC, outC, 3, 1, 1, rng));
    this.bn2 = this.child("bn2", new BatchNorm2d(outC));
    this.downsample = stride !== 1 || inC !== outC
      ? this.child(
        "downsample",
        new Sequential(new ConvNoBias(inC, outC, 1, stride, 0, rng), new BatchNorm2d(outC)),
      )
      : null;
  }

  /** [N, inC, H, W] → [N, outC, H / stride, W / stride]. */
  forward(x: Tensor): Tensor {
    const h = this.bn2.forward(this.conv2.forward(this.bn1.forward(this.conv1.forward(x))));
    const identity = this.downsample ? this.downsample.forward(x) : x;
    return relu(add(h, identity));
  }
}

/** See module doc. Input [N, inChannels, S, S] → output [N, outputs]. */
export class ResNet18 extends Module {
  /** The architecture this instance was built from. */
  readonly config: ResNet18Config;
  /** Stem: 7×7 conv, stride 2. */
  readonly conv1: ConvNoBias;
  /** BatchNorm after the stem conv, with fused ReLU. */
  readonly bn1: BatchNorm2d;
  /** Stem: 3×3 max-pool, stride 2. */
  readonly maxpool: MaxPool2d = new MaxPool2d(3, 2, 1);
  /** layer1…layer4, two {@link BasicBlock}s each (64, 128, 256, 512 channels). */
  readonly layers: Sequential[];
  /** Final fully connected layer on the pooled 512 features. */
  readonly fc: Linear;

  /** Builds the network; `seed` fixes the initial weights. */
  constructor(config: ResNet18Config = RESNET18_IBUG, seed = 0) {
    super();
    if (config.inputSize < 32) {
      throw new Error(`facekit: ResNet-18 needs inputs of at least 32×32, got ${config.inputSize}`);
    }
    this.config = config;
    const rng = new Rng(seed);
    this.conv1 = this.child("conv1", new ConvNoBias(config.inChannels, 64, 7, 2, 3, rng));
    this.bn1 = this.child("bn1", new BatchNorm2d(64, { relu: true }));
    const widths = [64, 128, 256, 512];
    let inC = 64;
    this.layers = widths.map((w, i) => {
      const stride = i === 0 ? 1 : 2;
      const layer = new Sequential(
        new BasicBlock(inC, w, stride, rng),
        new BasicBlock(w, w, 1, rng),
      );
      inC = w;
      return this.child(`layer${i + 1}`, layer);
    });
    this.fc = this.child("fc", new Linear(512, config.outputs, { rng }));
  }

  /** [N, inChannels, S, S] → [N, outputs]. */
  forward(x: Tensor): Tensor {
    const { inChannels: c, inputSize: s } = this.config;
    if (x.shape.length !== 4 || x.shape[1] !== c || x.shape[2] !== s || x.shape[3] !== s) {
      throw new Error(`facekit: ResNet-18 expects input [N, ${c}, ${s}, ${s}], got [${x.shape}]`);
    }
    let h = this.maxpool.forward(this.bn1.forward(this.conv1.forward(x)));
    for (const layer of this.layers) h = layer.forward(h);
    return this.fc.forward(globalAvgPool(h));
  }
}

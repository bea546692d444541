/**
 * The IMM keypoint networks: a stack of conv(3×3, padding 0) + ReLU + max-pool(2) blocks,
 * flattened into fc → ReLU → fc. NoseNet and FaceNet are two configurations of it.
 * @module
 */

import { Module } from "../module.ts";
import { Conv2d, Linear } from "../layers.ts";
import { convOutSize } from "../ops/conv2d.ts";
import { canFuseMlpHead, mlpHeadMseLoss } from "../ops/mlp_head.ts";
import { mseLoss } from "../ops/regression_loss.ts";
import type { Tensor } from "../tensor.ts";
import { Rng } from "../../data/rng.ts";

/** Architecture of a {@link KeypointCnn}; stored in `config.json` next to the weights. */
export interface KeypointCnnConfig {
  /** Input height in pixels (1 gray channel). */
  inputHeight: number;
  /** Input width in pixels. */
  inputWidth: number;
  /** Output channels of each conv block. */
  channels: number[];
  /** Width of the hidden fully connected layer. */
  hidden: number;
  /** Number of outputs: 2 × keypoints. */
  outputs: number;
}

/** NoseNet: 1×60×80 → 3 conv blocks (12, 22, 32) → fc 1280→64→2 (the nose tip). */
export const NOSENET: KeypointCnnConfig = {
  inputHeight: 60,
  inputWidth: 80,
  channels: [12, 22, 32],
  hidden: 64,
  outputs: 2,
};

/** FaceNet: 1×120×160 → 5 conv blocks (12, 20, 24, 30, 32) → fc 96→256→116 (58 points). */
export const FACENET: KeypointCnnConfig = {
  inputHeight: 120,
  inputWidth: 160,
  channels: [12, 20, 24, 30, 32],
  hidden: 256,
  outputs: 116,
};

/** Spatial size after each block and the flattened feature count, or an error if too small. */
export function keypointCnnShapes(
  c: KeypointCnnConfig,
): { sizes: [number, number][]; flat: number } {
  let h = c.inputHeight;
  let w = c.inputWidth;
  const sizes: [number, number][] = [];
  for (const _ of c.channels) {
    h = convOutSize(convOutSize(h, 3, 1, 0), 2, 2, 0);
    w = convOutSize(convOutSize(w, 3, 1, 0), 2, 2, 0);
    if (h < 1 || w < 1) {
      throw new Error(
        `facekit: input ${c.inputHeight}×${c.inputWidth} is too small for ${c.channels.length} conv blocks`,
      );
    }
    sizes.push([h, w]);
  }
  return { sizes, flat: c.channels.at(-1)! * h * w };
}

/** See module doc. Parameter names: conv1…convK, fc1, fc2 (each `.weight`, `.bias`). */
export class KeypointCnn extends Module {
  /** The architecture this instance was built from. */
  readonly config: KeypointCnnConfig;
  /** The 3×3 conv layers (ReLU and the block's 2×2 max-pool fused), one per block. */
  readonly convs: Conv2d[];
  /** Hidden fully connected layer (ReLU fused). */
  readonly fc1: Linear;
  /** Output layer. */
  readonly fc2: Linear;

  /** Builds the network; `seed` fixes the initial weights. */
  constructor(config: KeypointCnnConfig, seed = 0) {
    super();
    this.config = config;
    const rng = new Rng(seed);
    const { flat } = keypointCnnShapes(config);
    let inC = 1;
    this.convs = config.channels.map((outC, i) => {
      const conv = this.child(`conv${i + 1}`, new Conv2d(inC, outC, 3, { rng, relu: true }));
      inC = outC;
      return conv;
    });
    this.fc1 = this.child("fc1", new Linear(flat, config.hidden, { rng, relu: true }));
    this.fc2 = this.child("fc2", new Linear(config.hidden, config.outputs, { rng }));
  }

  /** x: [N, 1, H, W] pixels in [-0.5, 0.5] → [N, outputs] coordinates in [0, 1]. */
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.fc1.forward(this.#features(x)));
  }

  /**
   * The training loss `mseLoss(forward(x), target)` as a [1] tensor. At batch 1 the fully
   * connected head and the loss are one fused op (ops/mlp_head.ts): the same values, two
   * dispatches fewer.
   */
  mseLoss(x: Tensor, target: Tensor): Tensor {
    const t = this.#features(x);
    const { fc1, fc2 } = this;
    if (fc1.relu && !fc2.relu && canFuseMlpHead(t, fc1.weight, fc1.bias, fc2.weight, fc2.bias)) {
      return mlpHeadMseLoss(t, fc1.weight, fc1.bias!, fc2.weight, fc2.bias!, target);
    }
    return mseLoss(fc2.forward(fc1.forward(t)), target);
  }

  /** The conv blocks, flattened: [N, 1, H, W] → [N, flat]. */
  #features(x: Tensor): Tensor {
    const { inputHeight: h, inputWidth: w } = this.config;
    if (x.shape.length !== 4 || x.shape[1] !== 1 || x.shape[2] !== h || x.shape[3] !== w) {
      throw new Error(`facekit: model expects input [N, 1, ${h}, ${w}], got [${x.shape}]`);
    }
    let t = x;
    for (const conv of this.convs) t = conv.forwardMaxPool2(t);
    return t.reshape([t.shape[0], -1]);
  }
}

/**
 * facekit: WebGPU deep learning for Deno, with hand-written WGSL kernels and reverse-mode
 * autograd, plus the data, model and plotting pieces of a facial keypoint pipeline.
 *
 * ```ts
 * import { Adam, initRuntime, KeypointCnn, mseLoss, NOSENET, Tensor, tidy } from "./mod.ts";
 * await initRuntime();
 * const model = new KeypointCnn(NOSENET);
 * const opt = new Adam(model.parameters(), { lr: 1e-3 });
 * const x = Tensor.from(new Float32Array(60 * 80), [1, 1, 60, 80]);
 * const y = Tensor.from([0.5, 0.5], [1, 2]);
 * tidy(() => mseLoss(model.forward(x), y).backward());
 * opt.step();
 * ```
 * @module
 */

export { getDevice, type GpuDevice, NoWebGpuError } from "./nn/device.ts";
export {
  type BufferBinding,
  initRuntime,
  type Kernel,
  rt,
  Runtime,
  type RuntimeStats,
} from "./nn/runtime.ts";
export { isGradEnabled, keep, noGrad, shapeSize, Tensor, tidy } from "./nn/tensor.ts";
export { gradientFor, type GradNode, record } from "./nn/autograd.ts";
export { Module } from "./nn/module.ts";
export {
  BatchNorm2d,
  Conv2d,
  Flatten,
  type InitOptions,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
} from "./nn/layers.ts";
export {
  BasicBlock,
  type ConvNoBias,
  ResNet18,
  RESNET18_IBUG,
  type ResNet18Config,
} from "./nn/models/resnet18.ts";
export { batchNorm2d, batchNorm2dReference, type BatchNormOptions } from "./nn/ops/batchnorm2d.ts";
export { globalAvgPool, globalAvgPoolReference } from "./nn/ops/global_avg_pool.ts";
export {
  FACENET,
  KeypointCnn,
  type KeypointCnnConfig,
  keypointCnnShapes,
  NOSENET,
} from "./nn/models/keypoint_cnn.ts";
export { conv2d, type Conv2dOptions, conv2dReference, convOutSize } from "./nn/ops/conv2d.ts";
export { maxPool2d, type MaxPool2dOptions, maxPool2dReference } from "./nn/ops/maxpool2d.ts";
export { relu, reluReference } from "./nn/ops/relu.ts";
export { gemm, linear, linearReference, type Operand } from "./nn/ops/linear.ts";
export { mseLoss, mseLossReference } from "./nn/ops/regression_loss.ts";
export { canFuseMlpHead, mlpHeadMseLoss } from "./nn/ops/mlp_head.ts";
export { add, addInPlace, copy, fill, fillInPlace, mul, sub } from "./nn/ops/elementwise.ts";
export { reduceSum } from "./nn/ops/reduce.ts";
export { type KernelTime, profileStep } from "./nn/profile.ts";
export { Adam, type AdamOptions, Optimizer, Sgd, type SgdOptions } from "./nn/optim.ts";
export {
  type DecodedSafetensors,
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
  type StoredTensor,
} from "./nn/safetensors.ts";
export { loadModel, loadModelState, modelState, saveModel } from "./nn/serialize.ts";
export { predictKeypoints, type PredictKeypointsOptions } from "./nn/predict.ts";
export { loadCheckpoint, saveCheckpoint, type TrainingPosition } from "./nn/checkpoint.ts";
export { Rng } from "./data/rng.ts";
export { type AsfShape, parseAsf } from "./data/asf.ts";
export { decodeImage, type GrayImage, resizeImage, warpAffine } from "./data/image.ts";
export * as affine from "./data/affine.ts";
export type { Affine } from "./data/affine.ts";
export {
  flipPoints,
  IBUG68_FLIP_PERMUTATION,
  IMM_FLIP_PERMUTATION,
  meanShape,
  permutePoints,
} from "./data/keypoints.ts";
export { augment, type Augmented, type AugmentOptions } from "./data/augment.ts";
export {
  type ImmDataset,
  type ImmSample,
  loadImmDataset,
  type LoadImmOptions,
  toModelInput,
} from "./data/imm.ts";
export { resolveImmDir, type ResolveImmOptions } from "./data/fetch_imm.ts";
export {
  type DlibBox,
  type DlibFace,
  type DlibImage,
  flattenFaces,
  parseDlibXml,
} from "./data/dlib_xml.ts";
export { parsePts } from "./data/pts.ts";
export {
  type CropBox,
  cropFace,
  type FaceCrop,
  faceCropMatrix,
  pointsToCrop,
  pointsToOriginal,
} from "./data/face_crop.ts";
export {
  type IbugDataset,
  type IbugFace,
  type IbugLoadStats,
  loadIbugDataset,
  type LoadIbugOptions,
  splitTrainVal,
} from "./data/ibug.ts";
export { augmentIbug } from "./data/ibug_augment.ts";
export { type BoxedShape, meanAbsCoordError, meanNme, meanShapeBaseline, nme } from "./data/nme.ts";
export { formatPredictionsCsv, parsePredictionsCsv } from "./data/kaggle_csv.ts";
export { type LossCurveOptions, lossCurveSvg, type LossSeries } from "./plot/loss_svg.ts";
export {
  type KeypointPanel,
  keypointsSvg,
  type KeypointsSvgOptions,
} from "./plot/keypoints_svg.ts";
export { type FilterLayer, filtersSvg } from "./plot/filters_svg.ts";

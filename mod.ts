/**
 * onnxtrain: declare a dataset, a model, a loss and an optimizer; onnxtrain compiles them to ONNX
 * (a train step with reverse-mode autodiff and the optimizer update in standard `ai.onnx` ops, an
 * eval step and an exportable inference model) and trains on stock onnxruntime.
 *
 * @example
 * ```ts
 * import {
 *   crossEntropy,
 *   fashionMnist,
 *   flatten,
 *   linear,
 *   pipeline,
 *   relu,
 *   sequential,
 *   sgd,
 * } from "./mod.ts";
 *
 * const fmnist = pipeline()
 *   .data(fashionMnist({ root: "data" }), { batchSize: 64 })
 *   .model(
 *     sequential(
 *       flatten(),
 *       linear(28 * 28, 512),
 *       relu(),
 *       linear(512, 512),
 *       relu(),
 *       linear(512, 10),
 *     ),
 *   )
 *   .loss(crossEntropy())
 *   .optimizer(sgd({ lr: 1e-3 }))
 *   .epochs(10);
 * const compiled = fmnist.compile(); // `await fmnist.run()` trains it
 * if (compiled.params.length !== 6) throw new Error("expected 3 weights and 3 biases");
 * ```
 * @module
 */
export { pipeline, type TrainingPipeline } from "./src/pipeline.ts";
export {
  type Augmentation,
  type CompletePipelineProps,
  type DataOptions,
  type Normalization,
  type Pipeline,
  type PipelineExecutor,
  type PipelineProps,
  type Slot,
  type slots,
} from "./src/dsl/pipeline.ts";
export {
  type Activation,
  type ActivationLayer,
  describeLayer,
  dropout,
  type DropoutLayer,
  elu,
  type EluLayer,
  embedding,
  type EmbeddingLayer,
  flatten,
  type FlattenLayer,
  gelu,
  type GeluLayer,
  identity,
  type Layer,
  type LayerKind,
  leakyRelu,
  type LeakyReluLayer,
  linear,
  type LinearLayer,
  logSoftmax,
  relu,
  reshape,
  type ReshapeLayer,
  sigmoid,
  silu,
  softmax,
  type SoftmaxLayer,
  tanh,
} from "./src/dsl/layers.ts";
export type { AnyLayer, LayerBase, SymbolicTensor, TensorNode } from "./src/dsl/layer.ts";
export {
  add,
  concat,
  module,
  type ModuleLayer,
  mul,
  sequential,
  type SequentialLayer,
  sub,
} from "./src/dsl/graph.ts";
export {
  adaptiveAvgPool2d,
  avgPool2d,
  conv1d,
  type Conv1dLayer,
  conv2d,
  type Conv2dLayer,
  type ConvOptions,
  type ConvProps,
  maxPool2d,
  type Padding,
  type PoolLayer,
} from "./src/dsl/conv_layers.ts";
export {
  batchNorm1d,
  batchNorm2d,
  type BatchNormLayer,
  type BatchNormOptions,
  type BatchNormProps,
  layerNorm,
  type LayerNormLayer,
} from "./src/dsl/norm_layers.ts";
export {
  fromOnnx,
  type FromOnnxOptions,
  type OnnxModelLayer,
  type SharedPolicy,
  type TrainableSelector,
} from "./src/dsl/onnx_model.ts";
export type {
  BufferSpec,
  HyperSpec,
  Init,
  LayerSummary,
  ParamSpec,
  RandomSpec,
  StateSpec,
} from "./src/compile/params.ts";
export {
  bceWithLogits,
  type BceWithLogitsLoss,
  type ClassAxis,
  type ClassLoss,
  type ClassLossOptions,
  crossEntropy,
  type CrossEntropyLoss,
  huber,
  type HuberLoss,
  l1,
  type L1Loss,
  type Loss,
  mse,
  type MseLoss,
  type NllLoss,
  nllLoss,
  type Reduction,
  type ReductionOptions,
  smoothL1,
  type SmoothL1Loss,
} from "./src/dsl/losses.ts";
export {
  adagrad,
  type AdagradOptimizer,
  type AdagradOptions,
  type AdagradSettings,
  adam,
  type AdamOptimizer,
  type AdamOptions,
  type AdamSettings,
  adamW,
  type AdamWOptimizer,
  type ClipGradNorm,
  type ClipGradNormOption,
  type ExtraOptions,
  type Extras,
  type Optimizer,
  type ParamGroup,
  type ParamSelector,
  rmsprop,
  type RmspropOptimizer,
  type RmspropOptions,
  type RmspropSettings,
  sgd,
  type SgdOptimizer,
  type SgdOptions,
  type SgdSettings,
} from "./src/dsl/optimizers.ts";
export {
  type ChainableSchedule,
  constantLR,
  type ConstantLrSchedule,
  cosineAnnealingLR,
  type CosineAnnealingLrSchedule,
  exponentialLR,
  type ExponentialLrSchedule,
  type IntervalOption,
  linearLR,
  type LinearLrSchedule,
  multiStepLR,
  type MultiStepLrSchedule,
  oneCycleLR,
  type OneCycleLrSchedule,
  type OneCycleOptions,
  type PlateauMetric,
  type PlateauOptions,
  reduceLROnPlateau,
  type ReduceLrOnPlateauSchedule,
  type Schedule,
  type ScheduleInterval,
  sequentialLR,
  type SequentialLrSchedule,
  stepLR,
  type StepLrSchedule,
  type Stepped,
} from "./src/dsl/schedules.ts";
export {
  cifar10,
  CIFAR10_CLASSES,
  type Cifar10Dataset,
  type ClassIndices,
  type ClassTensorDataset,
  type ClassTensorDatasetOptions,
  type Dataset,
  emnist,
  EMNIST_BALANCED_CLASSES,
  type EmnistDataset,
  FASHION_MNIST_CLASSES,
  fashionMnist,
  type FashionMnistDataset,
  type FloatTensorDataset,
  type FloatTensorDatasetOptions,
  idxDataset,
  type IdxFilePair,
  type IdxFilesDataset,
  type IdxImageDatasetBase,
  type ImageDatasetOptions,
  imageFolder,
  type ImageFolderDataset,
  kmnist,
  KMNIST_CLASSES,
  type KmnistDataset,
  mnist,
  MNIST_CLASSES,
  type MnistDataset,
  type TargetKind,
  type TensorDataset,
  tensorDataset,
  type TensorDatasetBase,
  type TensorDatasetOptions,
  type TensorInputs,
  type TensorSplit,
  type TensorSplitInput,
} from "./src/dsl/datasets.ts";
export {
  type CompiledModel,
  compileInputTransform,
  compileModel,
  type DataSignature,
  type InferenceOptions,
  type ModelSpec,
} from "./src/compile/compile.ts";
export { compileDataParallel, type DataParallelGraphs } from "./src/compile/data_parallel.ts";
export type { SyncGraphs, SyncNorm } from "./src/compile/sync_batch_norm.ts";
export type { Mode } from "./src/compile/lower_model.ts";
export { CompileError } from "./src/ir/errors.ts";
export type {
  Attrs,
  AttrValue,
  ConstTensor,
  Dim,
  DType,
  Graph,
  GraphPort,
  Initializer,
  Node,
  Shape,
  TensorData,
  TensorType,
  Value,
} from "./src/ir/types.ts";
export { emitModel, type EmitOptions } from "./src/onnx/emit.ts";
export { emitMultiStep, type MultiStepSpec } from "./src/onnx/multi_step.ts";
export {
  type Backend,
  BACKENDS,
  createSession,
  type Device,
  DeviceError,
  type HostTensor,
  type Session,
  type SessionOptions,
} from "./src/runtime/session.ts";
export {
  autoStepsPerRun,
  type BatchEvent,
  compilePipeline,
  DEFAULT_STEPS_PER_RUN,
  type EpochResult,
  type PipelineSpec,
  type RunOptions,
  runPipeline,
  type RunResult,
  TrainingInterrupted,
} from "./src/train/run.ts";
export {
  createTrainer,
  EVAL_STEPS_PER_RUN,
  type EvalResult,
  type Trainer,
  type TrainerOptions,
  type TrainerSnapshot,
  VERSION,
} from "./src/train/trainer.ts";
export {
  type Checkpoint,
  CheckpointError,
  type CheckpointInfo,
  latestCheckpoint,
  listCheckpoints,
  pipelineFingerprint,
  readCheckpoint,
  restoreCheckpoint,
  saveCheckpoint,
  type SaveOptions,
} from "./src/train/checkpoint.ts";
export type { SchedulerState } from "./src/train/schedule.ts";
export {
  checkExportPath,
  decodeWeights,
  describeMismatch,
  detectWeightsFormat,
  matchWeights,
  type MismatchedTensor,
  readWeights,
  warmStart,
  type WarmStartOptions,
  type Weights,
  WeightsFileError,
  type WeightsFormat,
  type WeightsMatch,
} from "./src/train/warm_start.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  type SafeTensor,
  type SafetensorsContents,
  SafetensorsError,
} from "./src/io/safetensors.ts";
export {
  type CliFlags,
  type CliIo,
  type CliOptions,
  type CliPipeline,
  isUserError,
  parseCliArgs,
  runCli,
  usage,
} from "./src/cli/cli.ts";
export { UserRangeError, UserTypeError } from "./src/util/user_error.ts";
export {
  type FashionMnist,
  FashionMnistError,
  type FashionMnistResource,
  loadFashionMnist,
  type LoadFashionMnistOptions,
} from "./src/data/fashion_mnist.ts";
export {
  type IdxDatasetConfig,
  IdxDatasetError,
  type IdxLoadOptions,
  idxRawDir,
  type IdxResource,
  type IdxSplitFiles,
  type IdxSplits,
  loadIdxDataset,
  MNIST_FILES,
  writeIdxFiles,
} from "./src/data/idx_download.ts";
export {
  EMNIST_BALANCED,
  KMNIST,
  loadEmnist,
  loadKmnist,
  loadMnist,
  MNIST,
} from "./src/data/mnist.ts";
export {
  CIFAR10_ARCHIVE,
  CIFAR10_FILES,
  CIFAR10_FOLDER,
  CIFAR10_MIRRORS,
  CIFAR10_RECORD_BYTES,
  cifar10Dir,
  Cifar10Error,
  loadCifar10,
  parseCifar10,
} from "./src/data/cifar10.ts";
export { encodeTar, readTar, type TarEntry, TarFormatError } from "./src/data/tar.ts";
export { type ImageSet } from "./src/data/idx.ts";
export {
  decodePng,
  findClasses,
  ImageFolderError,
  type ImageFolderSet,
  loadImageFolder,
  loadImageFolderDataset,
  rgbToGray,
} from "./src/data/image_folder.ts";
export {
  syntheticFashionMnist,
  type SyntheticOptions,
  writeSyntheticFashionMnist,
} from "./src/data/synthetic.ts";
export {
  augmentDraws,
  type Batch,
  createLoader,
  holdOut,
  type HoldOutSplit,
  type ImageBatch,
  type Loader,
  type LoaderOptions,
  type SampleSet,
} from "./src/data/loader.ts";
export type { TensorSet } from "./src/data/tensor_dataset.ts";
export {
  CsvFormatError,
  type CsvOptions,
  type CsvTable,
  type CsvTargetKind,
  loadCsv,
  parseCsv,
  standardize,
  type Standardizer,
} from "./src/data/csv.ts";
export {
  loadNpy,
  loadNpz,
  type NpyArray,
  type NpyData,
  type NpyDtype,
  NpyFormatError,
  parseNpy,
  parseNpz,
} from "./src/data/npy.ts";
export {
  type CsvDataset,
  csvDataset,
  type CsvDatasetColumns,
  type CsvDatasetOptions,
  npyDataset,
  type NpyDatasetCommonOptions,
  type NpyDatasetOptions,
  type NpyFilePair,
  type NpyFilesOptions,
  type NpzFileOptions,
  type NpzKeys,
} from "./src/data/file_datasets.ts";
export {
  type AbortOnErrorOptions,
  type Communicator,
  DistributedError,
  type Environment,
  initMpi,
  type InitMpiOptions,
  installAbortOnError,
  launchedByMpi,
  LAUNCHER_ENV,
  singleCommunicator,
} from "./src/dist/mpi.ts";
export { type Reducer, shardRows } from "./src/train/data_parallel.ts";

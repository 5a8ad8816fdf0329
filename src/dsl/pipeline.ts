/**
 * The pipeline builder: an immutable, typed description of data, model, loss, optimizer and
 * epochs. Each call returns a new builder; running or compiling one that lacks data, model, loss
 * or optimizer is a type error. Execution is delegated to an executor, as Kysely's builders do.
 * @module
 */
import { positiveInt } from "./_validate.ts";
import type { Dataset } from "./datasets.ts";
import type { Layer } from "./layers.ts";
import type { Loss } from "./losses.ts";
import type { Optimizer } from "./optimizers.ts";
import type { Schedule } from "./schedules.ts";
import { UserRangeError, UserTypeError } from "../util/user_error.ts";

/**
 * The parts a pipeline needs before it can run.
 *
 * @example
 * ```ts
 * import type { Slot } from "./pipeline.ts";
 * const needed: Slot[] = ["data", "model", "loss", "optimizer"];
 * if (needed.length !== 4) throw new Error();
 * ```
 */
export type Slot = "data" | "model" | "loss" | "optimizer";

/**
 * Loader settings given with the data.
 *
 * @example
 * ```ts
 * import { crossEntropy, fashionMnist, linear, pipeline, sgd } from "../../mod.ts";
 * import type { DataOptions } from "./pipeline.ts";
 * const options: DataOptions = { batchSize: 128, shuffle: true, validation: 0.1, dropLast: true };
 * const p = pipeline().data(fashionMnist(), options);
 * if (p.props.validation !== 0.1 || !p.props.dropLast) throw new Error();
 * ```
 */
export interface DataOptions {
  /** Samples per batch (default 64, as the tutorial). */
  readonly batchSize?: number;
  /** Reshuffle the training set every epoch from the run's seed (default false). */
  readonly shuffle?: boolean;
  /**
   * Holds out this fraction of the training set, in (0, 1), for validation after each epoch:
   * `round(fraction · N)` samples drawn from the run's seed, the same every epoch. Default: the
   * previous `data()` call's, else none; 0 turns the split off.
   */
  readonly validation?: number;
  /**
   * Drops each epoch's last batch when it is smaller than `batchSize`, as PyTorch's
   * `drop_last=True` (default: the previous `data()` call's, else false).
   */
  readonly dropLast?: boolean;
  /**
   * `"balanced"`: class-weighted sampling of the training set with each class drawn equally
   * often (weights `1 / classCount`), as PyTorch's `WeightedRandomSampler(replacement=True)`
   * with `num_samples` the set's size, drawn afresh from the run's seed each epoch; it replaces
   * `shuffle`. Needs class-index targets. Not inherited from a previous `data()` call.
   */
  readonly sampler?: "balanced";
  /** Class-weighted sampling as `sampler`, with these non-negative weights, one per class. */
  readonly weights?: readonly number[];
  /**
   * Random augmentation of the training images (never of validation or test batches), with
   * torchvision's semantics: `randomCrop: { size, padding }` as `RandomCrop(size, padding)` (zero
   * padding, then a random `size`×`size` window; `size` must be the image size, since validation
   * and test images are not cropped) and `horizontalFlip: true` as `RandomHorizontalFlip(0.5)`.
   * Drawn per sample from the run's seed, the epoch and the position in it: fresh every epoch,
   * reproducible, exact after a resume. Image datasets only. Default: the previous `data()`
   * call's, else none; `false` turns it off.
   */
  readonly augment?: Augmentation | false;
  /**
   * torchvision's `Normalize(mean, std)` after `ToTensor`: each channel c becomes
   * `(x − mean[c]) / std[c]`, one value per channel. Applied inside the compiled graphs (one Sub
   * and one Div before the model), so the host does no extra work and the exported model expects
   * the same `[0, 1]` input as before. Image datasets only. Default: the previous `data()` call's,
   * else none; `false` turns it off.
   */
  readonly normalize?: Normalization | false;
  /**
   * Turn class-index targets into float one-hot vectors `[classes]` inside the graphs, for losses
   * on float targets (`mse`, `bceWithLogits`, …). Class datasets only. Default: the previous
   * `data()` call's, else false.
   */
  readonly oneHot?: boolean;
}

/**
 * Per-channel normalisation of image inputs (see {@linkcode DataOptions.normalize}).
 *
 * @example
 * ```ts
 * import { crossEntropy, fashionMnist, linear, pipeline, sgd } from "../../mod.ts";
 * import type { Normalization } from "./pipeline.ts";
 * const normalize: Normalization = { mean: [0.2860], std: [0.3530] };
 * if (pipeline().data(fashionMnist(), { normalize }).props.normalize?.std[0] !== 0.3530) {
 *   throw new Error();
 * }
 * ```
 */
export interface Normalization {
  /** One mean per channel. */
  readonly mean: readonly number[];
  /** One standard deviation (> 0) per channel. */
  readonly std: readonly number[];
}

/**
 * Random image augmentation of the training batches (see {@linkcode DataOptions.augment}).
 *
 * @example
 * ```ts
 * import { cifar10, pipeline } from "../../mod.ts";
 * import type { Augmentation } from "./pipeline.ts";
 * const augment: Augmentation = { randomCrop: { size: 32, padding: 4 }, horizontalFlip: true };
 * if (!pipeline().data(cifar10(), { augment }).props.augment?.horizontalFlip) throw new Error();
 * ```
 */
export interface Augmentation {
  /** Zero-pads each side by `padding` (default 0), then crops a random `size`×`size` window. */
  readonly randomCrop?: { readonly size: number; readonly padding?: number };
  /** Mirrors each image left to right with probability 0.5. */
  readonly horizontalFlip?: boolean;
}

/**
 * What a builder holds; the parts are present once their slot is set.
 *
 * @example
 * ```ts
 * import { crossEntropy, fashionMnist, linear, pipeline, sgd } from "../../mod.ts";
 * import type { PipelineProps } from "./pipeline.ts";
 * const props: PipelineProps =
 *   pipeline().data(fashionMnist(), { batchSize: 32, shuffle: true }).epochs(3).props;
 * if (props.batchSize !== 32 || !props.shuffle || props.epochs !== 3) throw new Error();
 * ```
 */
export interface PipelineProps {
  /** The dataset (absent until `data()` is called). */
  readonly data?: Dataset;
  /** Samples per batch. */
  readonly batchSize: number;
  /** Whether the training set is reshuffled every epoch. */
  readonly shuffle: boolean;
  /** The fraction of the training set held out for validation (absent: none). */
  readonly validation?: number;
  /** Whether each epoch drops its last partial batch. */
  readonly dropLast: boolean;
  /** Class-weighted sampling of the training set (absent: none). */
  readonly sampler?: "balanced" | { readonly weights: readonly number[] };
  /** Random augmentation of the training images (absent: none). */
  readonly augment?: Augmentation;
  /** Per-channel normalisation applied in the graphs (absent: none). */
  readonly normalize?: Normalization;
  /** Whether class targets become one-hot float vectors in the graphs. */
  readonly oneHot?: boolean;
  /** The model (absent until `model()` is called). */
  readonly model?: Layer;
  /** The loss (absent until `loss()` is called). */
  readonly loss?: Loss;
  /** The optimizer (absent until `optimizer()` is called). */
  readonly optimizer?: Optimizer;
  /** The learning-rate schedule, stepped by the training loop (absent: a constant rate). */
  readonly schedule?: Schedule;
  /** Passes over the training set. */
  readonly epochs: number;
  /** The run's seed (absent: a random one, returned as the run result's `seed`). */
  readonly seed?: number;
}

/**
 * The props of a complete pipeline.
 *
 * @example
 * ```ts
 * import { crossEntropy, fashionMnist, linear, pipeline, sgd } from "../../mod.ts";
 * import type { CompletePipelineProps } from "./pipeline.ts";
 * const p = pipeline().data(fashionMnist()).model(linear(784, 10)).loss(crossEntropy()).optimizer(
 *   sgd({ lr: 0.1 }),
 * );
 * const props = p.props as CompletePipelineProps;
 * if (props.optimizer.kind !== "sgd") throw new Error();
 * ```
 */
export type CompletePipelineProps = PipelineProps & {
  readonly data: Dataset;
  readonly model: Layer;
  readonly loss: Loss;
  readonly optimizer: Optimizer;
};

/**
 * Compiles and runs complete pipelines; supplied by the layers below the DSL.
 *
 * @example
 * ```ts
 * import type { CompletePipelineProps, PipelineExecutor } from "./pipeline.ts";
 * // What `pipeline()` plugs in; an executor that only counts layers:
 * const executor: PipelineExecutor<number, never, void> = {
 *   compile: (
 *     props: CompletePipelineProps,
 *   ) => (props.model.kind === "sequential" ? props.model.layers.length : 1),
 *   run: () => Promise.resolve(),
 * };
 * if (typeof executor.compile !== "function") throw new Error();
 * ```
 */
export interface PipelineExecutor<Compiled, RunOpts, Result> {
  /** Compiles the pipeline's graphs without training. */
  compile(props: CompletePipelineProps): Compiled;
  /** Trains the pipeline. */
  run(props: CompletePipelineProps, options?: RunOpts): Promise<Result>;
}

/**
 * The key of {@linkcode Pipeline}'s type-level slot record; it never exists at run time.
 *
 * @example
 * ```ts
 * import type { Pipeline, slots } from "./pipeline.ts";
 * // Only a type-level key: a pipeline's filled slots are `Pipeline[typeof slots]`.
 * type Filled = NonNullable<Pipeline<"data", unknown, unknown, unknown>[typeof slots]>;
 * const record: Filled = (_set: "data") => {};
 * record("data");
 * ```
 */
export declare const slots: unique symbol;

/**
 * A pipeline under construction; `Set` names the slots filled so far.
 *
 * @example
 * ```ts
 * import { crossEntropy, fashionMnist, linear, pipeline, sgd } from "../../mod.ts";
 * import type { Pipeline } from "./pipeline.ts";
 * const p: Pipeline<"model", unknown, unknown, unknown> = pipeline().model(linear(784, 10));
 * if (p.props.model?.kind !== "linear" || p.props.data !== undefined) throw new Error();
 * ```
 */
export interface Pipeline<Set extends Slot, Compiled, RunOpts, Result> {
  /** Type-level record of the filled slots (never present at run time). */
  readonly [slots]?: (set: Set) => void;
  /** The frozen description. */
  readonly props: PipelineProps;
  /** Sets the dataset and loader options. */
  data(dataset: Dataset, options?: DataOptions): Pipeline<Set | "data", Compiled, RunOpts, Result>;
  /** Sets the model. */
  model(model: Layer): Pipeline<Set | "model", Compiled, RunOpts, Result>;
  /** Sets the loss. */
  loss(loss: Loss): Pipeline<Set | "loss", Compiled, RunOpts, Result>;
  /** Sets the optimizer. */
  optimizer(optimizer: Optimizer): Pipeline<Set | "optimizer", Compiled, RunOpts, Result>;
  /** Sets the learning-rate schedule, such as `stepLR({ stepSize: 30 })` (optional). */
  schedule(schedule: Schedule): Pipeline<Set, Compiled, RunOpts, Result>;
  /** Sets the number of epochs (default 10). */
  epochs(epochs: number): Pipeline<Set, Compiled, RunOpts, Result>;
  /** Fixes the seed of initialisation and shuffling (default: a random seed per run). */
  seed(seed: number): Pipeline<Set, Compiled, RunOpts, Result>;
  /** Compiles the pipeline's graphs; a type error unless every slot is set. */
  compile(this: Pipeline<Slot, Compiled, RunOpts, Result>): Compiled;
  /** Trains and tests; a type error unless every slot is set. */
  run(this: Pipeline<Slot, Compiled, RunOpts, Result>, options?: RunOpts): Promise<Result>;
}

const BUILD = "Cannot build pipeline";

function fraction(validation: number | undefined): number | undefined {
  if (
    validation !== undefined &&
    !(typeof validation === "number" && validation >= 0 && validation < 1)
  ) {
    throw new UserRangeError(
      `${BUILD}: validation must be 0 (none) or a fraction in (0, 1), got ${validation}`,
    );
  }
  return validation || undefined;
}

function samplerOf(options: DataOptions): PipelineProps["sampler"] {
  const { sampler, weights } = options;
  if (sampler !== undefined && sampler !== "balanced") {
    throw new UserRangeError(
      `${BUILD}: sampler must be "balanced", got ${JSON.stringify(sampler)}`,
    );
  }
  if (weights === undefined) return sampler;
  if (sampler !== undefined) {
    throw new UserRangeError(`${BUILD}: give either sampler or weights, not both`);
  }
  if (
    !Array.isArray(weights) || weights.length === 0 ||
    !weights.every((w) => typeof w === "number" && Number.isFinite(w) && w >= 0) ||
    !weights.some((w) => w > 0)
  ) {
    throw new UserRangeError(
      `${BUILD}: weights must be one finite number ≥ 0 per class, not all 0, got [${weights}]`,
    );
  }
  return Object.freeze({ weights: Object.freeze([...weights]) });
}

function augmentOf(dataset: Dataset, augment: Augmentation | false | undefined) {
  if (augment === undefined || augment === false) return undefined;
  const { randomCrop, horizontalFlip } = augment;
  if (horizontalFlip !== undefined && typeof horizontalFlip !== "boolean") {
    throw new UserRangeError(
      `${BUILD}: augment.horizontalFlip must be a boolean, got ${horizontalFlip}`,
    );
  }
  if (randomCrop !== undefined) {
    const { size, padding = 0 } = randomCrop;
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new UserRangeError(
        `${BUILD}: augment.randomCrop size must be a positive integer, got ${size}`,
      );
    }
    if (!Number.isSafeInteger(padding) || padding < 0) {
      throw new UserRangeError(
        `${BUILD}: augment.randomCrop padding must be an integer ≥ 0, got ${padding}`,
      );
    }
  }
  if (!randomCrop && !horizontalFlip) return undefined;
  if (dataset.kind === "tensor") {
    throw new UserRangeError(
      `${BUILD}: augment needs an image dataset (MNIST, FashionMNIST, CIFAR-10, …), got a ` +
        "tensorDataset",
    );
  }
  const [, height, width] = dataset.sampleShape;
  if (randomCrop && (randomCrop.size !== height || randomCrop.size !== width)) {
    throw new UserRangeError(
      `${BUILD}: augment.randomCrop size ${randomCrop.size} differs from the ${height}x${width} ` +
        "images; validation and test images are not cropped, so the model would see other shapes",
    );
  }
  return Object.freeze({
    ...(randomCrop
      ? { randomCrop: Object.freeze({ size: randomCrop.size, padding: randomCrop.padding ?? 0 }) }
      : {}),
    ...(horizontalFlip ? { horizontalFlip } : {}),
  });
}

function oneHotOf(dataset: Dataset, oneHot: boolean | undefined): boolean | undefined {
  if (!oneHot) return undefined;
  if (!("classes" in dataset) || dataset.classes === undefined) {
    throw new UserRangeError(`${BUILD}: oneHot needs a dataset with class-index targets`);
  }
  return true;
}

function normalizeOf(dataset: Dataset, normalize: Normalization | false | undefined) {
  if (normalize === undefined || normalize === false) return undefined;
  if (dataset.kind === "tensor") {
    throw new UserRangeError(
      `${BUILD}: normalize needs an image dataset (MNIST, FashionMNIST, CIFAR-10, …), got a ` +
        "tensorDataset; normalise its features before building it",
    );
  }
  const channels = dataset.sampleShape[0];
  const { mean, std } = normalize;
  for (const [name, values] of [["mean", mean], ["std", std]] as const) {
    if (
      !Array.isArray(values) || values.length !== channels ||
      !values.every((v) => typeof v === "number" && Number.isFinite(v))
    ) {
      throw new UserRangeError(
        `${BUILD}: normalize.${name} must hold one finite number per channel (${channels}), ` +
          `got [${values}]`,
      );
    }
  }
  if (!std.every((v) => v > 0)) {
    throw new UserRangeError(`${BUILD}: normalize.std values must be > 0, got [${std}]`);
  }
  return Object.freeze({ mean: Object.freeze([...mean]), std: Object.freeze([...std]) });
}

function complete(props: PipelineProps): CompletePipelineProps {
  const missing = (["data", "model", "loss", "optimizer"] as const).filter((k) => !props[k]);
  if (missing.length) {
    throw new UserTypeError(`Cannot run pipeline: it has no ${missing.join(", ")}`);
  }
  return props as CompletePipelineProps;
}

/**
 * Creates an empty pipeline bound to an executor.
 *
 * @param executor Compiles and runs complete pipelines.
 * @returns A builder with nothing set.
 */
export function createPipeline<Compiled, RunOpts, Result>(
  executor: PipelineExecutor<Compiled, RunOpts, Result>,
): Pipeline<never, Compiled, RunOpts, Result> {
  const make = <S extends Slot>(
    props: PipelineProps,
  ): Pipeline<S, Compiled, RunOpts, Result> => {
    const frozen = Object.freeze(props);
    const next = <T extends Slot>(patch: Partial<PipelineProps>) =>
      make<T>({ ...frozen, ...patch });
    return Object.freeze({
      props: frozen,
      data: (dataset: Dataset, options: DataOptions = {}) =>
        next<S | "data">({
          data: dataset,
          batchSize: positiveInt(BUILD, "batchSize", options.batchSize ?? frozen.batchSize),
          shuffle: options.shuffle ?? frozen.shuffle,
          validation: fraction(options.validation ?? frozen.validation),
          dropLast: options.dropLast ?? frozen.dropLast,
          sampler: samplerOf(options),
          augment: augmentOf(dataset, options.augment ?? frozen.augment),
          normalize: normalizeOf(dataset, options.normalize ?? frozen.normalize),
          oneHot: oneHotOf(dataset, options.oneHot ?? frozen.oneHot),
        }),
      model: (model: Layer) => next<S | "model">({ model }),
      loss: (loss: Loss) => next<S | "loss">({ loss }),
      optimizer: (optimizer: Optimizer) => next<S | "optimizer">({ optimizer }),
      schedule: (schedule: Schedule) => next<S>({ schedule }),
      epochs: (epochs: number) => next<S>({ epochs: positiveInt(BUILD, "epochs", epochs) }),
      seed: (seed: number) => {
        if (!Number.isSafeInteger(seed)) {
          throw new UserRangeError(
            `Cannot build pipeline: seed must be a safe integer, got ${seed}`,
          );
        }
        return next<S>({ seed });
      },
      compile: () => executor.compile(complete(frozen)),
      run: (options?: RunOpts) => executor.run(complete(frozen), options),
    });
  };
  return make<never>({ batchSize: 64, shuffle: false, dropLast: false, epochs: 10 });
}

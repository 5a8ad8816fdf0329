/**
 * What the compiler knows about the data (`DataSignature`) and the graph types of the batches of
 * inputs and targets it implies; the compiler and the loss lowerings both read it.
 * @module
 */
import type { Augmentation } from "../dsl/pipeline.ts";
import { CompileError } from "../ir/errors.ts";
import type { TensorType } from "../ir/types.ts";

/**
 * What the compiler needs to know about the data: one sample's shape and element type, and the
 * targets: class indices (`classes`, int64 `[N]`, or `[N, ...labelShape]` per position) or float
 * tensors (`targetShape`, float32 `[N, ...targetShape]`). Exactly one of `classes` and
 * `targetShape` is set.
 * @example
 * ```ts
 * import { compileModel, crossEntropy, type DataSignature, linear, sgd } from "../../mod.ts";
 * const data: DataSignature = { sampleShape: [4], inputDtype: "uint8", classes: 2 };
 * const compiled = compileModel({
 *   data,
 *   model: linear(4, 2),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1 }),
 * });
 * if (compiled.inputType.dtype !== "uint8") throw new Error();
 * ```
 */
export interface DataSignature {
  /** Shape of one sample: the input is `[N, ...sampleShape]`. */
  readonly sampleShape: readonly number[];
  /**
   * Element type of the batches fed to the train and eval graphs (default float32; int64 for
   * token ids). `uint8`: raw image bytes, which every graph converts as torchvision's ToTensor
   * (Cast to float32, Div 255) before any normalisation and the model; the inference model takes
   * float32 `[0, 1]` pixels unless exported `raw`.
   */
  readonly inputDtype?: "float32" | "int64" | "uint8";
  /**
   * Random crops and flips of the training images, applied in the train graph on the raw bytes
   * from per-sample window indices fed with each batch (`augment_rows`, `augment_cols`); needs
   * `inputDtype: "uint8"`. The eval and inference graphs do not augment.
   */
  readonly augment?: Augmentation;
  /** Class-index targets: the number of classes. */
  readonly classes?: number;
  /**
   * Class-index targets: one sample's shape of class indices, e.g. `[T]` for sequence labels
   * (the target is int64 `[N, ...labelShape]`); absent or `[]`: one class index per sample.
   */
  readonly labelShape?: readonly number[];
  /** Float targets: one sample's target shape. */
  readonly targetShape?: readonly number[];
  /**
   * Per-channel `(x − mean[c]) / std[c]` over axis 1 of the input, applied in every graph before
   * the model (torchvision's Normalize); one value per channel.
   */
  readonly normalize?: { readonly mean: readonly number[]; readonly std: readonly number[] };
  /**
   * Class-index targets turned into float one-hot vectors `[N, classes]` in the graph before the
   * loss (for mse, bceWithLogits and the like); the `target` input stays int64 `[N]`.
   */
  readonly oneHot?: boolean;
}

/** The graph type of a batch of train or eval inputs. */
export function inputType(data: DataSignature): TensorType {
  return { dtype: data.inputDtype ?? "float32", shape: ["N", ...data.sampleShape] };
}

/**
 * The graph type of a batch of targets: int64 `[N, ...labelShape]` class indices (`[N]` without a
 * label shape) or float32 `[N, ...targetShape]`.
 */
export function targetType(data: DataSignature): TensorType {
  if (data.targetShape && data.classes !== undefined) {
    throw new CompileError(
      "Cannot compile model: the data declares both class targets and float targets",
    );
  }
  return data.targetShape
    ? { dtype: "float32", shape: ["N", ...data.targetShape] }
    : { dtype: "int64", shape: ["N", ...(data.labelShape ?? [])] };
}

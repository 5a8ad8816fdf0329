/** Trainable parameters and optimizer state as the compiler declares them. @module */

/**
 * How a tensor starts out.
 *
 * @example
 * ```ts
 * import { compileModel, crossEntropy, type Init, linear, sgd } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [4], classes: 3 },
 *   model: linear(4, 3),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1, momentum: 0.9 }),
 * });
 * const init: Init = compiled.params[1].init;
 * if (init.kind !== "uniform" || Math.abs(init.bound - 0.5) > 1e-9) {
 *   throw new Error("1/√in_features");
 * }
 * ```
 */
export type Init =
  | { readonly kind: "uniform"; readonly bound: number }
  | { readonly kind: "normal"; readonly std: number; readonly zeroRow?: number }
  | { readonly kind: "constant"; readonly value: number }
  | { readonly kind: "zeros" }
  /** Given values (an imported model's initializer), row-major. */
  | { readonly kind: "tensor"; readonly data: Float32Array };

/**
 * A trainable parameter: a graph input of the train and eval graphs, an initializer on export.
 *
 * @example
 * ```ts
 * import { compileModel, crossEntropy, linear, sgd, type ParamSpec } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [4], classes: 3 },
 *   model: linear(4, 3),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1, momentum: 0.9 }),
 * });
 * const weight: ParamSpec = compiled.params[0];
 * if (weight.shape.join() !== "3,4" || weight.init.kind !== "uniform") throw new Error();
 * ```
 */
export interface ParamSpec {
  /** PyTorch state_dict style name, such as `1.weight`. */
  readonly name: string;
  /** The tensor's shape. */
  readonly shape: readonly number[];
  /** How the tensor starts out. */
  readonly init: Init;
}

/**
 * A tensor the optimizer carries from step to step (momentum buffers, moments).
 *
 * @example
 * ```ts
 * import { compileModel, crossEntropy, linear, sgd, type StateSpec } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [4], classes: 3 },
 *   model: linear(4, 3),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1, momentum: 0.9 }),
 * });
 * const momentum: StateSpec[] = [...compiled.state];
 * if (momentum.length === 0 || !momentum.every((s) => s.init.kind === "zeros")) throw new Error();
 * ```
 */
export interface StateSpec {
  /** Graph input name; the train graph outputs its next value as `${name}.next`. */
  readonly name: string;
  /** The tensor's shape. */
  readonly shape: readonly number[];
  /** How the tensor starts out. */
  readonly init: Init;
}

/**
 * A scalar hyperparameter fed to the train graph each step, so changing it needs no recompile.
 *
 * @example
 * ```ts
 * import { compileModel, crossEntropy, linear, sgd, type HyperSpec } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [4], classes: 3 },
 *   model: linear(4, 3),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1, momentum: 0.9 }),
 * });
 * const lr: HyperSpec | undefined = compiled.hyper.find((h) => h.name === "lr");
 * if (lr?.value !== 0.1) throw new Error();
 * ```
 */
export interface HyperSpec {
  /** Graph input name, such as `lr`. */
  readonly name: string;
  /** The value fed when nothing overrides it. */
  readonly value: number;
}

/** The output name carrying the next value of a parameter or state tensor. */
export function nextName(name: string): string {
  return `${name}.next`;
}

/**
 * A buffer: model state that is not trained by the optimizer (batch norm's running statistics,
 * `num_batches_tracked`). An input of the train and eval graphs, updated by the train graph
 * (output `${name}.next`) where the layer updates it, an initializer on export.
 * @example
 * ```ts
 * import { batchNorm1d, type BufferSpec, compileModel, crossEntropy, sgd } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [3], classes: 3 },
 *   model: batchNorm1d(3),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1 }),
 * });
 * const buffers: readonly BufferSpec[] = compiled.buffers;
 * if (buffers.map((b) => b.name).join() !== "running_mean,running_var,num_batches_tracked") {
 *   throw new Error();
 * }
 * ```
 */
export interface BufferSpec {
  /** PyTorch state_dict style name, such as `1.running_mean`. */
  readonly name: string;
  /** Element type (`num_batches_tracked` is int64). */
  readonly dtype: "float32" | "int64";
  /** The tensor's shape. */
  readonly shape: readonly number[];
  /** How the tensor starts out. */
  readonly init: Init;
}

/**
 * A random tensor the trainer draws each step and feeds to the train graph (a dropout mask), so
 * randomness depends only on the run's seed and the step number, never on hidden runtime state.
 * @example
 * ```ts
 * import {
 *   compileModel,
 *   crossEntropy,
 *   dropout,
 *   linear,
 *   type RandomSpec,
 *   sequential,
 *   sgd,
 * } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [4], classes: 2 },
 *   model: sequential(dropout(0.25), linear(4, 2)),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1 }),
 * });
 * const [mask]: readonly RandomSpec[] = compiled.random;
 * if (mask.p !== 0.25 || mask.shape[0] !== "N") throw new Error();
 * ```
 */
export interface RandomSpec {
  /** Graph input name, such as `4.dropout_mask`. */
  readonly name: string;
  /** The mask's shape; the batch dimension is the symbol `N`. */
  readonly shape: readonly (number | string)[];
  /** Each element is 1/(1 − p) with probability 1 − p, else 0. */
  readonly p: number;
}

/**
 * One row of a model summary: a leaf layer, its output shape and its parameter count.
 *
 * @example
 * ```ts
 * import { compileModel, crossEntropy, linear, sgd, type LayerSummary } from "../../mod.ts";
 * const compiled = compileModel({
 *   data: { sampleShape: [4], classes: 3 },
 *   model: linear(4, 3),
 *   loss: crossEntropy(),
 *   optimizer: sgd({ lr: 0.1, momentum: 0.9 }),
 * });
 * const [row]: readonly LayerSummary[] = compiled.layers;
 * if (row.params !== 15 || row.outputShape.join() !== "N,3") throw new Error();
 * ```
 */
export interface LayerSummary {
  /** The layer's path in the model, as in parameter names (`block.conv1`). */
  readonly path: string;
  /** A short description, such as `linear 512→10`. */
  readonly layer: string;
  /** The layer's output shape; the batch dimension is the symbol `N`. */
  readonly outputShape: readonly (number | string)[];
  /** Trainable parameters first declared by this layer (0 when shared with an earlier one). */
  readonly params: number;
  /** Buffer elements first declared by this layer. */
  readonly buffers: number;
}

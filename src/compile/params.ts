/** Trainable parameters and optimizer state as the compiler declares them. @module */

/** How a tensor starts out. */
export type Init =
  | { readonly kind: "uniform"; readonly bound: number }
  | { readonly kind: "normal"; readonly std: number; readonly zeroRow?: number }
  | { readonly kind: "constant"; readonly value: number }
  | { readonly kind: "zeros" }
  /** Given values (an imported model's initializer), row-major. */
  | { readonly kind: "tensor"; readonly data: Float32Array };

/** A trainable parameter: a graph input of the train and eval graphs, an initializer on export. */
export interface ParamSpec {
  /** PyTorch state_dict style name, such as `1.weight`. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Init;
}

/** A tensor the optimizer carries from step to step (momentum buffers, moments). */
export interface StateSpec {
  /** Graph input name; the train graph outputs its next value as `${name}.next`. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Init;
}

/** A scalar hyperparameter fed to the train graph each step, so changing it needs no recompile. */
export interface HyperSpec {
  readonly name: string;
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
 */
export interface BufferSpec {
  /** PyTorch state_dict style name, such as `1.running_mean`. */
  readonly name: string;
  readonly dtype: "float32" | "int64";
  readonly shape: readonly number[];
  readonly init: Init;
}

/**
 * A random tensor the trainer draws each step and feeds to the train graph (a dropout mask), so
 * randomness depends only on the run's seed and the step number, never on hidden runtime state.
 */
export interface RandomSpec {
  /** Graph input name, such as `4.dropout_mask`. */
  readonly name: string;
  /** The mask's shape; the batch dimension is the symbol `N`. */
  readonly shape: readonly (number | string)[];
  /** Each element is 1/(1 − p) with probability 1 − p, else 0. */
  readonly p: number;
}

/** One row of a model summary: a leaf layer, its output shape and its parameter count. */
export interface LayerSummary {
  /** The layer's path in the model, as in parameter names (`block.conv1`). */
  readonly path: string;
  /** A short description, such as `linear 512→10`. */
  readonly layer: string;
  readonly outputShape: readonly (number | string)[];
  /** Trainable parameters first declared by this layer (0 when shared with an earlier one). */
  readonly params: number;
  /** Buffer elements first declared by this layer. */
  readonly buffers: number;
}

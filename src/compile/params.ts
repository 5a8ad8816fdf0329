/** Trainable parameters and optimizer state as the compiler declares them. @module */

/** How a tensor starts out. */
export type Init =
  | { readonly kind: "uniform"; readonly bound: number }
  | { readonly kind: "normal"; readonly std: number }
  | { readonly kind: "constant"; readonly value: number }
  | { readonly kind: "zeros" };

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

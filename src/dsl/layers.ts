/**
 * Model layers: immutable descriptions with a `kind`, built by factories. No ONNX here.
 * @module
 */

import { positiveInt } from "./_validate.ts";

/** Flattens every dimension after the batch into one (PyTorch's `nn.Flatten()`). */
export interface FlattenLayer {
  readonly kind: "flatten";
}

/** A fully connected layer `y = x·Wᵀ + b` with W of shape [out, in] (PyTorch's `nn.Linear`). */
export interface LinearLayer {
  readonly kind: "linear";
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;
}

/** Rectified linear unit. */
export interface ReluLayer {
  readonly kind: "relu";
}

/** Layers applied in order; parameters are named by position as in PyTorch (`1.weight`). */
export interface SequentialLayer {
  readonly kind: "sequential";
  readonly layers: readonly Layer[];
}

/** Any layer. Adding a kind here fails to compile until every lowering handles it. */
export type Layer = FlattenLayer | LinearLayer | ReluLayer | SequentialLayer;

/** The kinds of layer. */
export type LayerKind = Layer["kind"];

/**
 * Flattens all dimensions after the batch dimension.
 *
 * @returns A flatten layer.
 * @example
 * ```ts
 * import { flatten } from "./layers.ts";
 * if (flatten().kind !== "flatten") throw new Error();
 * ```
 */
export function flatten(): FlattenLayer {
  return Object.freeze({ kind: "flatten" });
}

/**
 * A fully connected layer, initialised as PyTorch does (uniform in ±1/√inFeatures).
 *
 * @param inFeatures Size of each input sample.
 * @param outFeatures Size of each output sample.
 * @param options `bias: false` drops the bias.
 * @returns A linear layer.
 * @example
 * ```ts
 * import { linear } from "./layers.ts";
 * const l = linear(784, 512);
 * if (l.inFeatures !== 784 || l.outFeatures !== 512 || !l.bias) throw new Error();
 * ```
 */
export function linear(
  inFeatures: number,
  outFeatures: number,
  options: { readonly bias?: boolean } = {},
): LinearLayer {
  return Object.freeze({
    kind: "linear",
    inFeatures: positiveInt("Cannot create layer", "inFeatures", inFeatures),
    outFeatures: positiveInt("Cannot create layer", "outFeatures", outFeatures),
    bias: options.bias ?? true,
  });
}

/**
 * Rectified linear unit, `max(x, 0)`.
 *
 * @returns A relu layer.
 */
export function relu(): ReluLayer {
  return Object.freeze({ kind: "relu" });
}

/**
 * Chains layers.
 *
 * @param layers The layers, applied first to last.
 * @returns A sequential layer.
 * @example
 * ```ts
 * import { linear, relu, sequential } from "./layers.ts";
 * const m = sequential(linear(4, 8), relu(), linear(8, 2));
 * if (m.layers.length !== 3) throw new Error();
 * ```
 */
export function sequential(...layers: Layer[]): SequentialLayer {
  return Object.freeze({ kind: "sequential", layers: Object.freeze([...layers]) });
}

/** A short description of a layer for messages, such as `linear 512→10`. */
export function describeLayer(layer: Layer): string {
  switch (layer.kind) {
    case "linear":
      return `linear ${layer.inFeatures}→${layer.outFeatures}`;
    case "sequential":
      return `sequential of ${layer.layers.length}`;
    default:
      return layer.kind;
  }
}

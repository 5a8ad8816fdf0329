/**
 * Normalisation layers, as PyTorch's `nn.BatchNorm1d`, `nn.BatchNorm2d` and `nn.LayerNorm`.
 * @module
 */
import { positiveInt } from "./_validate.ts";
import { type LayerBase, makeLayer } from "./layer.ts";
import { UserRangeError } from "../util/user_error.ts";

/**
 * Batch normalisation. In the train graph it normalises with the batch's statistics and updates
 * the running statistics (`running = (1 − momentum)·running + momentum·batch`, the variance
 * unbiased); in the eval and inference graphs it uses the running statistics. The running
 * statistics and `num_batches_tracked` are buffers, carried from step to step like optimizer
 * state, not parameters.
 * @example
 * ```ts
 * import { batchNorm1d, type BatchNormLayer } from "./norm_layers.ts";
 * const bn: BatchNormLayer = batchNorm1d(32);
 * if (bn.kind !== "batch-norm-1d" || bn.numFeatures !== 32) throw new Error();
 * ```
 */
export type BatchNormLayer =
  | (BatchNormProps & { readonly kind: "batch-norm-1d" })
  | (BatchNormProps & { readonly kind: "batch-norm-2d" });

/**
 * What both batch-norm layers hold.
 *
 * @example
 * ```ts
 * import { batchNorm2d, type BatchNormProps } from "./norm_layers.ts";
 * const props: BatchNormProps = batchNorm2d(8, { momentum: 0.01 });
 * if (props.momentum !== 0.01 || !props.affine) throw new Error();
 * ```
 */
export interface BatchNormProps {
  /** Channels (`C` of `[N, C]`, `[N, C, L]` or `[N, C, H, W]`). */
  readonly numFeatures: number;
  /** Added to the variance for numerical stability (default 1e-5). */
  readonly eps: number;
  /** Weight of the new batch statistics in the running statistics (default 0.1). */
  readonly momentum: number;
  /** Learnable `weight` (ones) and `bias` (zeros). */
  readonly affine: boolean;
}

/**
 * Layer normalisation over the last `normalizedShape.length` dimensions.
 *
 * @example
 * ```ts
 * import { layerNorm, type LayerNormLayer } from "./norm_layers.ts";
 * const ln: LayerNormLayer = layerNorm([16]);
 * if (ln.normalizedShape.join() !== "16" || ln.eps !== 1e-5) throw new Error();
 * ```
 */
export interface LayerNormLayer {
  /** Discriminates the layer union. */
  readonly kind: "layer-norm";
  /** The trailing dimensions normalised. */
  readonly normalizedShape: readonly number[];
  /** Added to the variance for numerical stability (default 1e-5). */
  readonly eps: number;
  /** Learnable `weight` (ones) and `bias` (zeros) of `normalizedShape`. */
  readonly elementwiseAffine: boolean;
}

/**
 * Options of the batch-norm layers.
 *
 * @example
 * ```ts
 * import { batchNorm2d, type BatchNormOptions } from "./norm_layers.ts";
 * const options: BatchNormOptions = { eps: 1e-3, affine: false };
 * if (batchNorm2d(4, options).affine) throw new Error();
 * ```
 */
export interface BatchNormOptions {
  /** Added to the variance (default 1e-5). */
  readonly eps?: number;
  /** Weight of the batch statistics in the running statistics (default 0.1). */
  readonly momentum?: number;
  /** Learnable scale and shift (default true). */
  readonly affine?: boolean;
}

function batchNorm<K extends BatchNormLayer["kind"]>(
  kind: K,
  numFeatures: number,
  o: BatchNormOptions,
): BatchNormProps & { readonly kind: K } & LayerBase<K> {
  const momentum = o.momentum ?? 0.1, eps = o.eps ?? 1e-5;
  if (!(momentum >= 0 && momentum <= 1)) {
    throw new UserRangeError(
      `Cannot create layer ${kind}: momentum must be in [0, 1], got ${momentum}`,
    );
  }
  if (!(eps > 0)) {
    throw new UserRangeError(`Cannot create layer ${kind}: eps must be > 0, got ${eps}`);
  }
  return makeLayer({
    kind,
    numFeatures: positiveInt(`Cannot create layer ${kind}`, "numFeatures", numFeatures),
    eps,
    momentum,
    affine: o.affine ?? true,
  });
}

/**
 * Batch normalisation over `[N, C]` or `[N, C, L]`, as `nn.BatchNorm1d`.
 *
 * @param numFeatures C.
 * @param options eps, momentum, affine.
 * @returns A batch-norm layer.
 * @example
 * ```ts
 * import { batchNorm1d } from "./norm_layers.ts";
 * const bn = batchNorm1d(64);
 * if (bn.momentum !== 0.1 || bn.eps !== 1e-5) throw new Error();
 * ```
 */
export function batchNorm1d(
  numFeatures: number,
  options: BatchNormOptions = {},
): BatchNormProps & { readonly kind: "batch-norm-1d" } & LayerBase<"batch-norm-1d"> {
  return batchNorm("batch-norm-1d", numFeatures, options);
}

/**
 * Batch normalisation over `[N, C, H, W]`, as `nn.BatchNorm2d`.
 *
 * @param numFeatures C.
 * @param options eps, momentum, affine.
 * @returns A batch-norm layer.
 * @example
 * ```ts
 * import { batchNorm2d } from "./norm_layers.ts";
 * const bn = batchNorm2d(16);
 * if (bn.kind !== "batch-norm-2d" || bn.eps !== 1e-5 || bn.momentum !== 0.1) throw new Error();
 * ```
 */
export function batchNorm2d(
  numFeatures: number,
  options: BatchNormOptions = {},
): BatchNormProps & { readonly kind: "batch-norm-2d" } & LayerBase<"batch-norm-2d"> {
  return batchNorm("batch-norm-2d", numFeatures, options);
}

/**
 * Layer normalisation as `nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True)`.
 *
 * @param normalizedShape The trailing shape to normalise over.
 * @param options eps, elementwiseAffine.
 * @returns A layer-norm layer.
 * @example
 * ```ts
 * import { layerNorm } from "./norm_layers.ts";
 * if (layerNorm(16).normalizedShape.join() !== "16") throw new Error();
 * ```
 */
export function layerNorm(
  normalizedShape: number | readonly number[],
  options: { readonly eps?: number; readonly elementwiseAffine?: boolean } = {},
): LayerNormLayer & LayerBase<"layer-norm"> {
  const shape = typeof normalizedShape === "number" ? [normalizedShape] : [...normalizedShape];
  shape.forEach((d) => positiveInt("Cannot create layer layerNorm", "normalizedShape", d));
  return makeLayer({
    kind: "layer-norm" as const,
    normalizedShape: Object.freeze(shape),
    eps: options.eps ?? 1e-5,
    elementwiseAffine: options.elementwiseAffine ?? true,
  });
}

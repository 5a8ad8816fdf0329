/**
 * Normalisation layers, as PyTorch's `nn.BatchNorm1d`, `nn.BatchNorm2d` and `nn.LayerNorm`.
 * @module
 */
import { positiveInt } from "./_validate.ts";
import { type LayerBase, makeLayer } from "./layer.ts";

/**
 * Batch normalisation. In the train graph it normalises with the batch's statistics and updates
 * the running statistics (`running = (1 − momentum)·running + momentum·batch`, the variance
 * unbiased); in the eval and inference graphs it uses the running statistics. The running
 * statistics and `num_batches_tracked` are buffers, carried from step to step like optimizer
 * state, not parameters.
 */
export type BatchNormLayer =
  | (BatchNormProps & { readonly kind: "batch-norm-1d" })
  | (BatchNormProps & { readonly kind: "batch-norm-2d" });

/** What both batch-norm layers hold. */
export interface BatchNormProps {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;
  /** Learnable `weight` (ones) and `bias` (zeros). */
  readonly affine: boolean;
}

/** Layer normalisation over the last `normalizedShape.length` dimensions. */
export interface LayerNormLayer {
  readonly kind: "layer-norm";
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  /** Learnable `weight` (ones) and `bias` (zeros) of `normalizedShape`. */
  readonly elementwiseAffine: boolean;
}

/** Options of the batch-norm layers. */
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
    throw new RangeError(
      `Cannot create layer ${kind}: momentum must be in [0, 1], got ${momentum}`,
    );
  }
  if (!(eps > 0)) throw new RangeError(`Cannot create layer ${kind}: eps must be > 0, got ${eps}`);
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

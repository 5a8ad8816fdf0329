/**
 * Loss functions: immutable descriptions, as PyTorch 1.13's `torch.nn` losses define them. The
 * compiler lowers them (src/compile/lower_loss.ts); nothing here touches ONNX.
 *
 * Reductions follow PyTorch: `"mean"` (default) and `"sum"` reduce to a scalar; with `"none"` the
 * loss is the per-sample (class losses) or per-element (regression losses) tensor, and the
 * training objective is its plain mean, since the optimizer needs a scalar ("none-then-mean").
 * @module
 */
import { UserRangeError } from "../util/user_error.ts";

/**
 * How a loss reduces its per-element values: PyTorch's `reduction` argument.
 *
 * @example
 * ```ts
 * import { mse, type Reduction } from "./losses.ts";
 * const reduction: Reduction = "sum";
 * if (mse({ reduction }).reduction !== "sum") throw new Error();
 * ```
 */
export type Reduction = "mean" | "sum" | "none";

/**
 * Cross-entropy between class logits and class indices (`nn.CrossEntropyLoss`): logits `[N, C]`
 * with targets `[N]`, or per-position logits `[N, C, d1, …, dk]` or `[N, d1, …, dk, C]` with
 * targets `[N, d1, …, dk]` (see {@linkcode ClassAxis}). `ignoreIndex` is absent unless given
 * (PyTorch's default −100 applies and the targets are taken to be valid class indices, so the
 * fused ONNX `SoftmaxCrossEntropyLoss` op can be used).
 * @example
 * ```ts
 * import { crossEntropy, type CrossEntropyLoss } from "./losses.ts";
 * const loss: CrossEntropyLoss = crossEntropy({ labelSmoothing: 0.1 });
 * if (loss.labelSmoothing !== 0.1 || loss.reduction !== "mean") throw new Error();
 * ```
 */
export interface CrossEntropyLoss {
  /** Discriminant: `"cross-entropy"`. */
  readonly kind: "cross-entropy";
  /** One rescaling weight per class. */
  readonly weight?: readonly number[];
  /** Smoothing ε in [0, 1]: the target distribution becomes `(1 − ε)·onehot + ε/C`. */
  readonly labelSmoothing: number;
  /** Targets equal to this contribute neither loss nor weight (set only when given). */
  readonly ignoreIndex?: number;
  /** Where the class axis of per-position logits is (set only when given; see {@linkcode ClassAxis}). */
  readonly classAxis?: ClassAxis;
  /** How per-element losses reduce (`"none"` trains on their mean). */
  readonly reduction: Reduction;
}

/**
 * Negative log-likelihood of class indices `[N]` under log-probabilities `[N, C]` (`nn.NLLLoss`),
 * or of targets `[N, d1, …, dk]` under `[N, C, d1, …, dk]` or `[N, d1, …, dk, C]` (see
 * {@linkcode ClassAxis}).
 *
 * @example
 * ```ts
 * import { type NllLoss, nllLoss } from "./losses.ts";
 * const loss: NllLoss = nllLoss();
 * if (loss.kind !== "nll") throw new Error();
 * ```
 */
export interface NllLoss {
  /** Discriminant: `"nll"`. */
  readonly kind: "nll";
  /** One rescaling weight per class. */
  readonly weight?: readonly number[];
  /** Targets equal to this contribute neither loss nor weight (set only when given). */
  readonly ignoreIndex?: number;
  /** Where the class axis of per-position inputs is (set only when given; see {@linkcode ClassAxis}). */
  readonly classAxis?: ClassAxis;
  /** How per-element losses reduce (`"none"` trains on their mean). */
  readonly reduction: Reduction;
}

/**
 * Where the class axis of a class loss's model output is, for targets with a shape per sample
 * (sequence labels `[N, T]` and the like).
 *
 * - `1`: PyTorch's layout, output `[N, C, d1, …, dk]` for targets `[N, d1, …, dk]`.
 * - `-1`: the class axis last, output `[N, d1, …, dk, C]`, as language models output `[N, T, vocab]`.
 *
 * Without a `classAxis` the layout is read from the shapes: if the output without axis 1 has the
 * targets' shape it is `[N, C, d…]`; if the output without its last axis has it, it is
 * `[N, d…, C]`. When both fit (output `[N, 5, 5]`, targets `[N, 5]`) compiling fails and asks for
 * `classAxis`; a given `classAxis` always decides. Targets `[N]` with output `[N, C]` fit both
 * and need none.
 *
 * @example
 * ```ts
 * import { type ClassAxis, crossEntropy } from "./losses.ts";
 * const classAxis: ClassAxis = -1;
 * if (crossEntropy({ classAxis, ignoreIndex: -100 }).classAxis !== -1) throw new Error();
 * ```
 */
export type ClassAxis = 1 | -1;

/**
 * Squared error `(x − t)²` per element (`nn.MSELoss`).
 *
 * @example
 * ```ts
 * import { mse, type MseLoss } from "./losses.ts";
 * const loss: MseLoss = mse();
 * if (loss.reduction !== "mean") throw new Error();
 * ```
 */
export interface MseLoss {
  /** Discriminant: `"mse"`. */
  readonly kind: "mse";
  /** How per-element losses reduce (`"none"` trains on their mean). */
  readonly reduction: Reduction;
}

/**
 * Absolute error `|x − t|` per element (`nn.L1Loss`).
 *
 * @example
 * ```ts
 * import { l1, type L1Loss } from "./losses.ts";
 * const loss: L1Loss = l1();
 * if (loss.kind !== "l1") throw new Error();
 * ```
 */
export interface L1Loss {
  /** Discriminant: `"l1"`. */
  readonly kind: "l1";
  /** How per-element losses reduce (`"none"` trains on their mean). */
  readonly reduction: Reduction;
}

/**
 * `0.5·d²/beta` where `|d| < beta`, else `|d| − 0.5·beta`, with `d = x − t` (`nn.SmoothL1Loss`).
 *
 * @example
 * ```ts
 * import { smoothL1, type SmoothL1Loss } from "./losses.ts";
 * const loss: SmoothL1Loss = smoothL1({ beta: 0.5 });
 * if (loss.beta !== 0.5) throw new Error();
 * ```
 */
export interface SmoothL1Loss {
  /** Discriminant: `"smooth-l1"`. */
  readonly kind: "smooth-l1";
  /** Where the loss turns from quadratic to linear, ≥ 0 (0 gives the L1 loss). */
  readonly beta: number;
  /** How per-element losses reduce (`"none"` trains on their mean). */
  readonly reduction: Reduction;
}

/**
 * `0.5·d²` where `|d| < delta`, else `delta·(|d| − 0.5·delta)`, `d = x − t` (`nn.HuberLoss`).
 *
 * @example
 * ```ts
 * import { huber, type HuberLoss } from "./losses.ts";
 * const loss: HuberLoss = huber({ delta: 2 });
 * if (loss.delta !== 2) throw new Error();
 * ```
 */
export interface HuberLoss {
  /** Discriminant: `"huber"`. */
  readonly kind: "huber";
  /** Where the loss turns from quadratic to linear, > 0. */
  readonly delta: number;
  /** How per-element losses reduce (`"none"` trains on their mean). */
  readonly reduction: Reduction;
}

/**
 * Binary cross-entropy on logits, per element (`nn.BCEWithLogitsLoss`):
 * `w·[(1 − t)·x + (1 + (pw − 1)·t)·(log(1 + exp(−|x|)) + max(−x, 0))]`.
 * @example
 * ```ts
 * import { bceWithLogits, type BceWithLogitsLoss } from "./losses.ts";
 * const loss: BceWithLogitsLoss = bceWithLogits({ posWeight: 3 });
 * if (loss.posWeight !== 3) throw new Error();
 * ```
 */
export interface BceWithLogitsLoss {
  /** Discriminant: `"bce-with-logits"`. */
  readonly kind: "bce-with-logits";
  /** Weight of positive examples, broadcast along the output's last axis (one per class). */
  readonly posWeight?: number | readonly number[];
  /** Rescaling weight of each element's loss, broadcast along the output's last axis. */
  readonly weight?: number | readonly number[];
  /** How per-element losses reduce (`"none"` trains on their mean). */
  readonly reduction: Reduction;
}

/**
 * Any loss.
 *
 * @example
 * ```ts
 * import { crossEntropy, type Loss, mse } from "./losses.ts";
 * const losses: Loss[] = [crossEntropy(), mse()];
 * if (losses.map((l) => l.kind).join() !== "cross-entropy,mse") throw new Error();
 * ```
 */
export type Loss =
  | CrossEntropyLoss
  | NllLoss
  | MseLoss
  | L1Loss
  | SmoothL1Loss
  | HuberLoss
  | BceWithLogitsLoss;

/**
 * The losses whose targets are class indices.
 *
 * @example
 * ```ts
 * import { type ClassLoss, nllLoss } from "./losses.ts";
 * const loss: ClassLoss = nllLoss({ ignoreIndex: 0 });
 * if (loss.ignoreIndex !== 0) throw new Error();
 * ```
 */
export type ClassLoss = CrossEntropyLoss | NllLoss;

/**
 * Options shared by every loss.
 *
 * @example
 * ```ts
 * import { l1, type ReductionOptions } from "./losses.ts";
 * const options: ReductionOptions = { reduction: "none" };
 * if (l1(options).reduction !== "none") throw new Error();
 * ```
 */
export interface ReductionOptions {
  /** `"mean"` (default), `"sum"` or `"none"` (per-element loss; trained on its mean). */
  readonly reduction?: Reduction;
}

/**
 * Options of the class-index losses.
 *
 * @example
 * ```ts
 * import { type ClassLossOptions, crossEntropy } from "./losses.ts";
 * const options: ClassLossOptions = { weight: [1, 2, 1], ignoreIndex: -100 };
 * if (crossEntropy(options).weight?.[1] !== 2) throw new Error();
 * ```
 */
export interface ClassLossOptions extends ReductionOptions {
  /** One rescaling weight per class; `"mean"` then divides by the targets' summed weight. */
  readonly weight?: readonly number[];
  /** Targets equal to this are ignored (PyTorch's default −100). */
  readonly ignoreIndex?: number;
  /**
   * Class axis of per-position outputs: `1` (`[N, C, d…]`) or `-1` (`[N, d…, C]`); read from the
   * shapes when absent (see {@linkcode ClassAxis}).
   */
  readonly classAxis?: ClassAxis;
}

function fail(loss: string, message: string): never {
  throw new UserRangeError(`Cannot create loss ${loss}: ${message}`);
}

function reduction(loss: string, r: Reduction | undefined): Reduction {
  const v = r ?? "mean";
  if (v !== "mean" && v !== "sum" && v !== "none") {
    fail(loss, `reduction must be "mean", "sum" or "none", got ${JSON.stringify(v)}`);
  }
  return v;
}

function finite(loss: string, what: string, v: number): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    fail(loss, `${what} must be a finite number, got ${v}`);
  }
  return v;
}

function weights(loss: string, what: string, w: readonly number[]): readonly number[] {
  if (!Array.isArray(w) || w.length === 0) fail(loss, `${what} must be a non-empty number array`);
  return Object.freeze(w.map((v, i) => finite(loss, `${what}[${i}]`, v)));
}

function scalarOrWeights(
  loss: string,
  what: string,
  w: number | readonly number[],
): number | readonly number[] {
  return typeof w === "number" ? finite(loss, what, w) : weights(loss, what, w);
}

function classOptions(loss: string, options: ClassLossOptions) {
  const { weight, ignoreIndex, classAxis } = options;
  if (ignoreIndex !== undefined && !Number.isSafeInteger(ignoreIndex)) {
    fail(loss, `ignoreIndex must be an integer, got ${ignoreIndex}`);
  }
  if (classAxis !== undefined && classAxis !== 1 && classAxis !== -1) {
    fail(loss, `classAxis must be 1 or -1, got ${JSON.stringify(classAxis)}`);
  }
  return {
    ...(weight !== undefined ? { weight: weights(loss, "weight", weight) } : {}),
    ...(ignoreIndex !== undefined ? { ignoreIndex } : {}),
    ...(classAxis !== undefined ? { classAxis } : {}),
    reduction: reduction(loss, options.reduction),
  };
}

/**
 * Cross-entropy loss over class logits `[N, C]` and class-index targets `[N]`, as PyTorch 1.13's
 * `nn.CrossEntropyLoss`: `loss_i = −w[t_i]·log_softmax(x_i)[t_i]`, and with label smoothing ε
 * `(1 − ε)·loss_i + (ε/C)·Σ_c −w[c]·log_softmax(x_i)[c]`. `"mean"` divides the sum by the summed
 * weight `Σ_i w[t_i]` of the non-ignored targets (their count without weights).
 *
 * Targets with a shape per sample (sequence labels `[N, T]`) take logits `[N, C, T]` (PyTorch's
 * layout) or `[N, T, C]` (a language model's); see {@linkcode ClassAxis} for how the layout is
 * chosen. Every position is then a sample of the formulas above: ignored positions contribute
 * nothing, `"mean"` divides by the summed weight of the non-ignored positions, and `"none"`
 * gives the per-position losses `[N, T]` (0 where ignored), exactly as
 * `torch.nn.functional.cross_entropy`. Pass `ignoreIndex` (e.g. −100) for padded sequences:
 * without it every target must be a valid class index.
 *
 * @param options `weight` (per class), `labelSmoothing` (in [0, 1], default 0), `ignoreIndex`
 * (default −100), `classAxis` (`1` or `-1`, default from the shapes), `reduction` (default
 * `"mean"`).
 * @returns The loss description.
 * @throws {RangeError} For a label smoothing outside [0, 1], a non-finite weight, a non-integer
 * ignore index, a class axis other than 1 and −1, or an unknown reduction.
 * @example
 * ```ts
 * import { crossEntropy } from "./losses.ts";
 * const loss = crossEntropy({ labelSmoothing: 0.1 });
 * if (loss.kind !== "cross-entropy" || loss.reduction !== "mean") throw new Error();
 * ```
 */
export function crossEntropy(
  options: ClassLossOptions & { readonly labelSmoothing?: number } = {},
): CrossEntropyLoss {
  const name = "cross-entropy";
  const labelSmoothing = finite(name, "labelSmoothing", options.labelSmoothing ?? 0);
  if (labelSmoothing < 0 || labelSmoothing > 1) {
    fail(name, `labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  }
  return Object.freeze({ kind: name, labelSmoothing, ...classOptions(name, options) });
}

/**
 * Negative log-likelihood loss over log-probabilities `[N, C]` and class-index targets `[N]`, as
 * `nn.NLLLoss`: `loss_i = −w[t_i]·x_i[t_i]`; `"mean"` divides by `Σ_i w[t_i]` over non-ignored
 * targets. Pair it with a final `logSoftmax` layer (over the class axis). Targets with a shape per
 * sample take `[N, C, d…]` or `[N, d…, C]` inputs, each position a sample, as with
 * {@linkcode crossEntropy} (see {@linkcode ClassAxis}).
 *
 * @param options `weight` (per class), `ignoreIndex` (default −100), `classAxis` (`1` or `-1`,
 * default from the shapes), `reduction`.
 * @returns The loss description.
 * @throws {RangeError} For a non-finite weight, a non-integer ignore index, a class axis other
 * than 1 and −1, or an unknown reduction.
 * @example
 * ```ts
 * import { nllLoss } from "./losses.ts";
 * if (nllLoss({ weight: [1, 2] }).weight?.[1] !== 2) throw new Error();
 * ```
 */
export function nllLoss(options: ClassLossOptions = {}): NllLoss {
  return Object.freeze({ kind: "nll", ...classOptions("nll", options) });
}

/**
 * Mean squared error between the model output and float targets of its shape (`nn.MSELoss`).
 *
 * @param options `reduction` (default `"mean"`: over every element).
 * @returns The loss description.
 * @example
 * ```ts
 * import { mse } from "./losses.ts";
 * if (mse({ reduction: "sum" }).reduction !== "sum") throw new Error();
 * ```
 */
export function mse(options: ReductionOptions = {}): MseLoss {
  return Object.freeze({ kind: "mse", reduction: reduction("mse", options.reduction) });
}

/**
 * Mean absolute error between the model output and float targets of its shape (`nn.L1Loss`).
 *
 * @param options `reduction` (default `"mean"`).
 * @returns The loss description.
 * @example
 * ```ts
 * import { l1 } from "./losses.ts";
 * if (l1().kind !== "l1") throw new Error();
 * ```
 */
export function l1(options: ReductionOptions = {}): L1Loss {
  return Object.freeze({ kind: "l1", reduction: reduction("l1", options.reduction) });
}

/**
 * Smooth L1 loss (`nn.SmoothL1Loss`): quadratic `0.5·d²/beta` below `beta`, linear `|d| − beta/2`
 * above; `beta = 0` is the L1 loss.
 *
 * @param options `beta` (≥ 0, default 1), `reduction` (default `"mean"`).
 * @returns The loss description.
 * @throws {RangeError} For a negative or non-finite beta.
 * @example
 * ```ts
 * import { smoothL1 } from "./losses.ts";
 * if (smoothL1({ beta: 0.5 }).beta !== 0.5) throw new Error();
 * ```
 */
export function smoothL1(
  options: ReductionOptions & { readonly beta?: number } = {},
): SmoothL1Loss {
  const name = "smooth-l1";
  const beta = finite(name, "beta", options.beta ?? 1);
  if (beta < 0) fail(name, `beta must be ≥ 0, got ${beta}`);
  return Object.freeze({ kind: name, beta, reduction: reduction(name, options.reduction) });
}

/**
 * Huber loss (`nn.HuberLoss`): quadratic `0.5·d²` below `delta`, linear `delta·(|d| − delta/2)`
 * above.
 *
 * @param options `delta` (> 0, default 1), `reduction` (default `"mean"`).
 * @returns The loss description.
 * @throws {RangeError} For a non-positive or non-finite delta.
 * @example
 * ```ts
 * import { huber } from "./losses.ts";
 * if (huber().delta !== 1) throw new Error();
 * ```
 */
export function huber(options: ReductionOptions & { readonly delta?: number } = {}): HuberLoss {
  const name = "huber";
  const delta = finite(name, "delta", options.delta ?? 1);
  if (delta <= 0) fail(name, `delta must be > 0, got ${delta}`);
  return Object.freeze({ kind: name, delta, reduction: reduction(name, options.reduction) });
}

/**
 * Binary cross-entropy on logits against float targets in [0, 1] of the output's shape
 * (`nn.BCEWithLogitsLoss`), with PyTorch's numerically stable formula
 * `(1 − t)·x + (1 + (pw − 1)·t)·(log(1 + exp(−|x|)) + max(−x, 0))`, times `weight`.
 *
 * @param options `posWeight` and `weight`: a number or one number per output column (broadcast
 * along the last axis); `reduction` (default `"mean"`).
 * @returns The loss description.
 * @throws {RangeError} For non-finite weights or an unknown reduction.
 * @example
 * ```ts
 * import { bceWithLogits } from "./losses.ts";
 * if (bceWithLogits({ posWeight: [1, 3] }).kind !== "bce-with-logits") throw new Error();
 * ```
 */
export function bceWithLogits(
  options: ReductionOptions & {
    readonly posWeight?: number | readonly number[];
    readonly weight?: number | readonly number[];
  } = {},
): BceWithLogitsLoss {
  const name = "bce-with-logits";
  const { posWeight, weight } = options;
  return Object.freeze({
    kind: name,
    ...(posWeight !== undefined
      ? { posWeight: scalarOrWeights(name, "posWeight", posWeight) }
      : {}),
    ...(weight !== undefined ? { weight: scalarOrWeights(name, "weight", weight) } : {}),
    reduction: reduction(name, options.reduction),
  });
}

/**
 * Convolution and pooling layers, as PyTorch's `nn.Conv1d`, `nn.Conv2d`, `nn.MaxPool2d`,
 * `nn.AvgPool2d` and `nn.AdaptiveAvgPool2d`.
 * @module
 */
import { positiveInt } from "./_validate.ts";
import { type LayerBase, makeLayer } from "./layer.ts";
import { UserRangeError } from "../util/user_error.ts";

/**
 * Padding of a convolution: per-side sizes, `"same"` (stride 1 only) or `"valid"` (none).
 *
 * @example
 * ```ts
 * import { conv2d, type Padding } from "./conv_layers.ts";
 * const padding: Padding = [1, 2];
 * if (String(conv2d(1, 1, 3, { padding }).padding) !== "1,2") throw new Error();
 * ```
 */
export type Padding = number | readonly number[] | "same" | "valid";

/**
 * What both convolution layers hold; sizes are one per spatial axis.
 *
 * @example
 * ```ts
 * import { conv2d, type ConvProps } from "./conv_layers.ts";
 * const props: ConvProps = conv2d(1, 8, 3, { stride: 2 });
 * if (props.stride.join() !== "2,2" || props.groups !== 1) throw new Error();
 * ```
 */
export interface ConvProps {
  /** Channels of the input. */
  readonly inChannels: number;
  /** Channels of the output (the number of filters). */
  readonly outChannels: number;
  /** Kernel size per spatial axis. */
  readonly kernelSize: readonly number[];
  /** Stride per spatial axis. */
  readonly stride: readonly number[];
  /** Per spatial axis, applied on both sides; or `"same"`. */
  readonly padding: readonly number[] | "same";
  /** Dilation per spatial axis. */
  readonly dilation: readonly number[];
  /** Groups of channels convolved separately (`inChannels / groups` per filter). */
  readonly groups: number;
  /** Whether the layer adds a learnable bias. */
  readonly bias: boolean;
}

/**
 * A 1-D convolution over `[N, C, L]` (PyTorch's `nn.Conv1d`).
 *
 * @example
 * ```ts
 * import { conv1d, type Conv1dLayer } from "./conv_layers.ts";
 * const c: Conv1dLayer = conv1d(4, 8, 5);
 * if (c.kernelSize.join() !== "5") throw new Error();
 * ```
 */
export interface Conv1dLayer extends ConvProps {
  /** Discriminates the layer union. */
  readonly kind: "conv1d";
}

/**
 * A 2-D convolution over `[N, C, H, W]` (PyTorch's `nn.Conv2d`).
 *
 * @example
 * ```ts
 * import { conv2d, type Conv2dLayer } from "./conv_layers.ts";
 * const c: Conv2dLayer = conv2d(3, 16, 3, { padding: "same" });
 * if (c.padding !== "same" || c.kernelSize.join() !== "3,3") throw new Error();
 * ```
 */
export interface Conv2dLayer extends ConvProps {
  /** Discriminates the layer union. */
  readonly kind: "conv2d";
}

/**
 * Options of {@linkcode conv1d} and {@linkcode conv2d}; sizes are a number or one per axis.
 *
 * @example
 * ```ts
 * import { conv2d, type ConvOptions } from "./conv_layers.ts";
 * const options: ConvOptions = { stride: 1, padding: 1, bias: false };
 * if (conv2d(1, 4, 3, options).bias) throw new Error();
 * ```
 */
export interface ConvOptions {
  /** Stride (default 1). */
  readonly stride?: number | readonly number[];
  /** Padding (default 0). */
  readonly padding?: Padding;
  /** Dilation (default 1). */
  readonly dilation?: number | readonly number[];
  /** Groups of channels (default 1). */
  readonly groups?: number;
  /** Whether to add a learnable bias (default true). */
  readonly bias?: boolean;
}

/**
 * 2-D pooling: max, average or adaptive average.
 *
 * @example
 * ```ts
 * import { maxPool2d, type PoolLayer } from "./conv_layers.ts";
 * const p: PoolLayer = maxPool2d(2);
 * if (p.kind !== "max-pool-2d") throw new Error();
 * ```
 */
export type PoolLayer =
  | {
    readonly kind: "max-pool-2d";
    readonly kernelSize: readonly number[];
    readonly stride: readonly number[];
    readonly padding: readonly number[];
    readonly dilation: readonly number[];
  }
  | {
    readonly kind: "avg-pool-2d";
    readonly kernelSize: readonly number[];
    readonly stride: readonly number[];
    readonly padding: readonly number[];
    readonly countIncludePad: boolean;
  }
  | { readonly kind: "adaptive-avg-pool-2d"; readonly outputSize: readonly number[] };

const CREATE = "Cannot create layer";

/** A size given as a number or one per axis, as a tuple of `rank` positive (or ≥ 0) integers. */
function tuple(
  layer: string,
  what: string,
  v: number | readonly number[],
  rank: number,
  min = 1,
): readonly number[] {
  const t = typeof v === "number" ? Array<number>(rank).fill(v) : [...v];
  if (t.length !== rank || t.some((d) => !Number.isInteger(d) || d < min)) {
    throw new UserRangeError(
      `${CREATE} ${layer}: ${what} must be ${
        min ? "a positive" : "a non-negative"
      } integer or ${rank} of them, got ${JSON.stringify(v)}`,
    );
  }
  return Object.freeze(t);
}

function conv<K extends "conv1d" | "conv2d">(
  kind: K,
  rank: number,
  inChannels: number,
  outChannels: number,
  kernelSize: number | readonly number[],
  o: ConvOptions,
): ConvProps & { readonly kind: K } & LayerBase<K> {
  const inC = positiveInt(`${CREATE} ${kind}`, "inChannels", inChannels);
  const outC = positiveInt(`${CREATE} ${kind}`, "outChannels", outChannels);
  const groups = positiveInt(`${CREATE} ${kind}`, "groups", o.groups ?? 1);
  if (inC % groups || outC % groups) {
    throw new UserRangeError(
      `${CREATE} ${kind}: groups ${groups} must divide inChannels ${inC} and outChannels ${outC}`,
    );
  }
  const stride = tuple(kind, "stride", o.stride ?? 1, rank);
  const p = o.padding ?? 0;
  if (p === "same" && stride.some((s) => s !== 1)) {
    throw new UserRangeError(`${CREATE} ${kind}: padding "same" needs stride 1, got [${stride}]`);
  }
  return makeLayer({
    kind,
    inChannels: inC,
    outChannels: outC,
    kernelSize: tuple(kind, "kernelSize", kernelSize, rank),
    stride,
    padding: p === "same"
      ? "same" as const
      : tuple(kind, "padding", p === "valid" ? 0 : p, rank, 0),
    dilation: tuple(kind, "dilation", o.dilation ?? 1, rank),
    groups,
    bias: o.bias ?? true,
  });
}

/**
 * A 2-D convolution as `nn.Conv2d`, weights `[out, in/groups, kh, kw]` and bias initialised
 * uniform in ±1/√fan_in (fan_in = in/groups·kh·kw), as PyTorch does.
 *
 * @param inChannels Input channels.
 * @param outChannels Output channels.
 * @param kernelSize Kernel size, one number or `[kh, kw]`.
 * @param options stride, padding (number, pair, `"same"` or `"valid"`), dilation, groups, bias.
 * @returns A conv2d layer.
 * @example
 * ```ts
 * import { conv2d } from "./conv_layers.ts";
 * const c = conv2d(1, 16, 3, { padding: "same" });
 * if (c.kernelSize.join() !== "3,3" || c.padding !== "same") throw new Error();
 * ```
 */
export function conv2d(
  inChannels: number,
  outChannels: number,
  kernelSize: number | readonly number[],
  options: ConvOptions = {},
): Conv2dLayer & LayerBase<"conv2d"> {
  return conv("conv2d", 2, inChannels, outChannels, kernelSize, options);
}

/**
 * A 1-D convolution as `nn.Conv1d` over `[N, C, L]`.
 *
 * @param inChannels Input channels.
 * @param outChannels Output channels.
 * @param kernelSize Kernel length.
 * @param options stride, padding, dilation, groups, bias.
 * @returns A conv1d layer.
 * @example
 * ```ts
 * import { conv1d } from "./conv_layers.ts";
 * const c = conv1d(4, 8, 3, { padding: 1 });
 * if (c.kernelSize.join() !== "3" || String(c.padding) !== "1" || c.outChannels !== 8) {
 *   throw new Error();
 * }
 * ```
 */
export function conv1d(
  inChannels: number,
  outChannels: number,
  kernelSize: number | readonly number[],
  options: ConvOptions = {},
): Conv1dLayer & LayerBase<"conv1d"> {
  return conv("conv1d", 1, inChannels, outChannels, kernelSize, options);
}

/**
 * Max pooling as `nn.MaxPool2d(kernel_size, stride=kernel_size, padding=0, dilation=1)`.
 *
 * @param kernelSize Window size.
 * @param options stride (default: the kernel size), padding, dilation.
 * @returns A max-pool layer.
 * @example
 * ```ts
 * import { maxPool2d } from "./conv_layers.ts";
 * if (maxPool2d(2).stride.join() !== "2,2") throw new Error();
 * ```
 */
export function maxPool2d(
  kernelSize: number | readonly number[],
  options: {
    readonly stride?: number | readonly number[];
    readonly padding?: number | readonly number[];
    readonly dilation?: number | readonly number[];
  } = {},
): Extract<PoolLayer, { kind: "max-pool-2d" }> & LayerBase<"max-pool-2d"> {
  const k = tuple("maxPool2d", "kernelSize", kernelSize, 2);
  return makeLayer({
    kind: "max-pool-2d" as const,
    kernelSize: k,
    stride: tuple("maxPool2d", "stride", options.stride ?? k, 2),
    padding: tuple("maxPool2d", "padding", options.padding ?? 0, 2, 0),
    dilation: tuple("maxPool2d", "dilation", options.dilation ?? 1, 2),
  });
}

/**
 * Average pooling as `nn.AvgPool2d(kernel_size, stride=kernel_size, padding=0,
 * count_include_pad=True)`.
 *
 * @param kernelSize Window size.
 * @param options stride (default: the kernel size), padding, countIncludePad (default true).
 * @returns An average-pool layer.
 * @example
 * ```ts
 * import { avgPool2d } from "./conv_layers.ts";
 * const p = avgPool2d(2);
 * if (p.kind !== "avg-pool-2d") throw new Error();
 * ```
 */
export function avgPool2d(
  kernelSize: number | readonly number[],
  options: {
    readonly stride?: number | readonly number[];
    readonly padding?: number | readonly number[];
    readonly countIncludePad?: boolean;
  } = {},
): Extract<PoolLayer, { kind: "avg-pool-2d" }> & LayerBase<"avg-pool-2d"> {
  const k = tuple("avgPool2d", "kernelSize", kernelSize, 2);
  return makeLayer({
    kind: "avg-pool-2d" as const,
    kernelSize: k,
    stride: tuple("avgPool2d", "stride", options.stride ?? k, 2),
    padding: tuple("avgPool2d", "padding", options.padding ?? 0, 2, 0),
    countIncludePad: options.countIncludePad ?? true,
  });
}

/**
 * Adaptive average pooling as `nn.AdaptiveAvgPool2d(outputSize)`. Output 1 is global average
 * pooling; other sizes must divide the input's height and width.
 *
 * @param outputSize Output height and width, one number or a pair (default 1).
 * @returns An adaptive average-pool layer.
 * @example
 * ```ts
 * import { adaptiveAvgPool2d } from "./conv_layers.ts";
 * const p = adaptiveAvgPool2d();
 * if (p.kind !== "adaptive-avg-pool-2d") throw new Error();
 * ```
 */
export function adaptiveAvgPool2d(
  outputSize: number | readonly number[] = 1,
): Extract<PoolLayer, { kind: "adaptive-avg-pool-2d" }> & LayerBase<"adaptive-avg-pool-2d"> {
  return makeLayer({
    kind: "adaptive-avg-pool-2d" as const,
    outputSize: tuple("adaptiveAvgPool2d", "outputSize", outputSize, 2),
  });
}

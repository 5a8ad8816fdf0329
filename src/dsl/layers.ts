/**
 * Model layers: immutable descriptions with a `kind`, built by factories, named and initialised as
 * PyTorch's `torch.nn` modules are. No ONNX here. Convolution, pooling and normalisation layers
 * live in `conv_layers.ts` and `norm_layers.ts`; graphs of layers in `graph.ts`; the layer types
 * and `Layer`, their union, in `layer_types.ts` (re-exported here).
 * @module
 */
import { positiveInt } from "./_validate.ts";
import { type LayerBase, makeLayer } from "./layer.ts";
import type {
  ActivationLayer,
  DropoutLayer,
  EluLayer,
  EmbeddingLayer,
  FlattenLayer,
  GeluLayer,
  Layer,
  LeakyReluLayer,
  LinearLayer,
  ReshapeLayer,
  SoftmaxLayer,
} from "./layer_types.ts";
import { UserRangeError } from "../util/user_error.ts";

export type { SymbolicTensor } from "./layer.ts";
export type {
  ActivationLayer,
  DropoutLayer,
  EluLayer,
  EmbeddingLayer,
  FlattenLayer,
  GeluLayer,
  Layer,
  LayerKind,
  LeakyReluLayer,
  LinearLayer,
  ReshapeLayer,
  SoftmaxLayer,
} from "./layer_types.ts";
export { sequential, type SequentialLayer } from "./graph.ts";

const CREATE = "Cannot create layer";

/** Returns `n` when it is an integer, else a RangeError naming the layer and argument. */
export function integer(layer: string, what: string, n: number): number {
  if (!Number.isInteger(n)) {
    throw new UserRangeError(`${CREATE} ${layer}: ${what} must be an integer, got ${n}`);
  }
  return n;
}

/** Returns `p` when it is a probability in [0, 1), else a RangeError naming the layer. */
function probability(layer: string, p: number): number {
  if (!(p >= 0 && p < 1)) {
    throw new UserRangeError(`${CREATE} ${layer}: p must be in [0, 1), got ${p}`);
  }
  return p;
}

/**
 * Flattens dimensions `startDim` to `endDim` (inclusive; negative counts from the end) into one,
 * as `nn.Flatten(start_dim=1, end_dim=-1)`.
 *
 * @param options `startDim` (default 1) and `endDim` (default −1).
 * @returns A flatten layer.
 * @example
 * ```ts
 * import { flatten } from "./layers.ts";
 * const f = flatten();
 * if (f.kind !== "flatten" || f.startDim !== 1 || f.endDim !== -1) throw new Error();
 * ```
 */
export function flatten(
  options: { readonly startDim?: number; readonly endDim?: number } = {},
): FlattenLayer & LayerBase<"flatten"> {
  return makeLayer({
    kind: "flatten",
    startDim: integer("flatten", "startDim", options.startDim ?? 1),
    endDim: integer("flatten", "endDim", options.endDim ?? -1),
  });
}

/**
 * Reshapes each sample to `shape`, keeping the batch dimension (`x.view(x.shape[0], *shape)`); one
 * entry may be −1.
 *
 * @param shape The per-sample shape.
 * @returns A reshape layer.
 * @example
 * ```ts
 * import { reshape } from "./layers.ts";
 * if (reshape(1, 28, 28).shape.join() !== "1,28,28") throw new Error();
 * ```
 */
export function reshape(...shape: number[]): ReshapeLayer & LayerBase<"reshape"> {
  shape.forEach((d) => {
    if (d !== -1) positiveInt(`${CREATE} reshape`, "each dimension", d);
  });
  if (shape.filter((d) => d === -1).length > 1) {
    throw new UserRangeError(`${CREATE} reshape: at most one dimension may be -1, got [${shape}]`);
  }
  return makeLayer({ kind: "reshape", shape: Object.freeze([...shape]) });
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
): LinearLayer & LayerBase<"linear"> {
  return makeLayer({
    kind: "linear",
    inFeatures: positiveInt(CREATE, "inFeatures", inFeatures),
    outFeatures: positiveInt(CREATE, "outFeatures", outFeatures),
    bias: options.bias ?? true,
  });
}

/**
 * A parameter-free activation layer of kind `K` (what {@linkcode relu} and friends return).
 *
 * @example
 * ```ts
 * import { type Activation, relu } from "./layers.ts";
 * const r: Activation<"relu"> = relu();
 * if (r.kind !== "relu") throw new Error();
 * ```
 */
export type Activation<K extends ActivationLayer["kind"]> =
  & Extract<ActivationLayer, { kind: K }>
  & LayerBase<K>;

/**
 * Rectified linear unit, `max(x, 0)`.
 *
 * @returns A relu layer.
 * @example
 * ```ts
 * import { relu } from "./layers.ts";
 * if (relu().kind !== "relu") throw new Error();
 * ```
 */
export function relu(): Activation<"relu"> {
  return makeLayer({ kind: "relu" as const });
}

/**
 * Logistic sigmoid `1/(1 + exp(−x))`. @returns A sigmoid layer.
 *
 * @example
 * ```ts
 * import { sigmoid } from "./layers.ts";
 * if (sigmoid().kind !== "sigmoid") throw new Error();
 * ```
 */
export function sigmoid(): Activation<"sigmoid"> {
  return makeLayer({ kind: "sigmoid" as const });
}

/**
 * Hyperbolic tangent. @returns A tanh layer.
 *
 * @example
 * ```ts
 * import { tanh } from "./layers.ts";
 * if (tanh().kind !== "tanh") throw new Error();
 * ```
 */
export function tanh(): Activation<"tanh"> {
  return makeLayer({ kind: "tanh" as const });
}

/**
 * SiLU (swish), `x·sigmoid(x)`. @returns A silu layer.
 *
 * @example
 * ```ts
 * import { silu } from "./layers.ts";
 * if (silu().kind !== "silu") throw new Error();
 * ```
 */
export function silu(): Activation<"silu"> {
  return makeLayer({ kind: "silu" as const });
}

/**
 * The identity, `nn.Identity()`. @returns An identity layer.
 *
 * @example
 * ```ts
 * import { identity } from "./layers.ts";
 * if (identity().kind !== "identity") throw new Error();
 * ```
 */
export function identity(): Activation<"identity"> {
  return makeLayer({ kind: "identity" as const });
}

/**
 * GELU as `nn.GELU(approximate)`: exact `x·Φ(x)` via erf, or the tanh approximation.
 *
 * @param options `approximate`: `"none"` (default) or `"tanh"`.
 * @returns A gelu layer.
 * @example
 * ```ts
 * import { gelu } from "./layers.ts";
 * if (gelu({ approximate: "tanh" }).approximate !== "tanh") throw new Error();
 * ```
 */
export function gelu(
  options: { readonly approximate?: "none" | "tanh" } = {},
): GeluLayer & LayerBase<"gelu"> {
  const approximate = options.approximate ?? "none";
  if (approximate !== "none" && approximate !== "tanh") {
    throw new UserRangeError(
      `${CREATE} gelu: approximate must be "none" or "tanh", got ${approximate}`,
    );
  }
  return makeLayer({ kind: "gelu", approximate });
}

/**
 * Leaky ReLU as `nn.LeakyReLU(negative_slope=0.01)`.
 *
 * @param options `negativeSlope` (default 0.01).
 * @returns A leaky-relu layer.
 * @example
 * ```ts
 * import { leakyRelu } from "./layers.ts";
 * if (leakyRelu().negativeSlope !== 0.01) throw new Error();
 * if (leakyRelu({ negativeSlope: 0.2 }).negativeSlope !== 0.2) throw new Error();
 * ```
 */
export function leakyRelu(
  options: { readonly negativeSlope?: number } = {},
): LeakyReluLayer & LayerBase<"leaky-relu"> {
  return makeLayer({ kind: "leaky-relu", negativeSlope: options.negativeSlope ?? 0.01 });
}

/**
 * ELU as `nn.ELU(alpha=1)`.
 *
 * @param options `alpha` (default 1).
 * @returns An elu layer.
 * @example
 * ```ts
 * import { elu } from "./layers.ts";
 * if (elu().alpha !== 1 || elu({ alpha: 0.5 }).alpha !== 0.5) throw new Error();
 * ```
 */
export function elu(
  options: { readonly alpha?: number } = {},
): EluLayer & LayerBase<"elu"> {
  return makeLayer({ kind: "elu", alpha: options.alpha ?? 1 });
}

/**
 * Softmax along `dim`, as `nn.Softmax(dim)`.
 *
 * @param dim The axis (negative counts from the end).
 * @returns A softmax layer.
 * @example
 * ```ts
 * import { softmax } from "./layers.ts";
 * const s = softmax(1);
 * if (s.kind !== "softmax" || s.dim !== 1) throw new Error();
 * ```
 */
export function softmax(
  dim: number,
): Extract<SoftmaxLayer, { kind: "softmax" }> & LayerBase<"softmax"> {
  return makeLayer({ kind: "softmax" as const, dim: integer("softmax", "dim", dim) });
}

/**
 * Log-softmax along `dim`, as `nn.LogSoftmax(dim)`.
 *
 * @param dim The axis (negative counts from the end).
 * @returns A log-softmax layer.
 * @example
 * ```ts
 * import { logSoftmax } from "./layers.ts";
 * const s = logSoftmax(-1);
 * if (s.kind !== "log-softmax" || s.dim !== -1) throw new Error();
 * ```
 */
export function logSoftmax(
  dim: number,
): Extract<SoftmaxLayer, { kind: "log-softmax" }> & LayerBase<"log-softmax"> {
  return makeLayer({ kind: "log-softmax" as const, dim: integer("logSoftmax", "dim", dim) });
}

/**
 * Dropout as `nn.Dropout(p)`: in the train graph each element is zeroed with probability `p` and
 * the rest scaled by 1/(1−p); in the eval and inference graphs it is the identity. Masks are drawn
 * on the host from the run's seed and the step number, so runs reproduce and resume exactly.
 *
 * @param p Drop probability in [0, 1) (default 0.5).
 * @returns A dropout layer.
 * @example
 * ```ts
 * import { dropout } from "./layers.ts";
 * if (dropout(0.25).p !== 0.25) throw new Error();
 * ```
 */
export function dropout(p = 0.5): DropoutLayer & LayerBase<"dropout"> {
  return makeLayer({ kind: "dropout", p: probability("dropout", p) });
}

/**
 * An embedding table as `nn.Embedding`: weights drawn from N(0, 1); input int64 indices of any
 * shape, output `[...indices.shape, embeddingDim]`.
 *
 * @param numEmbeddings Rows of the table.
 * @param embeddingDim Size of each vector.
 * @param options `paddingIdx`: a row that starts at zero and receives no gradient.
 * @returns An embedding layer.
 * @example
 * ```ts
 * import { embedding } from "./layers.ts";
 * if (embedding(100, 8).embeddingDim !== 8) throw new Error();
 * ```
 */
export function embedding(
  numEmbeddings: number,
  embeddingDim: number,
  options: { readonly paddingIdx?: number } = {},
): EmbeddingLayer & LayerBase<"embedding"> {
  const n = positiveInt(CREATE, "numEmbeddings", numEmbeddings);
  const { paddingIdx } = options;
  if (
    paddingIdx !== undefined &&
    !(Number.isInteger(paddingIdx) && paddingIdx >= -n && paddingIdx < n)
  ) {
    throw new UserRangeError(
      `${CREATE} embedding: paddingIdx must be in [${-n}, ${n}), got ${paddingIdx}`,
    );
  }
  return makeLayer({
    kind: "embedding",
    numEmbeddings: n,
    embeddingDim: positiveInt(CREATE, "embeddingDim", embeddingDim),
    ...(paddingIdx !== undefined
      ? { paddingIdx: paddingIdx < 0 ? paddingIdx + n : paddingIdx }
      : {}),
  });
}

/** `max-pool-2d` → `maxPool2d`: the DSL's name for a kind. */
function camel(kind: string): string {
  return kind.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
}

/**
 * A short description of a layer for messages and summaries, such as `linear 512→10`.
 *
 * @example
 * ```ts
 * import { describeLayer, linear } from "./layers.ts";
 * if (describeLayer(linear(512, 10)) !== "linear 512→10") throw new Error();
 * ```
 */
export function describeLayer(layer: Layer): string {
  switch (layer.kind) {
    case "linear":
      return `linear ${layer.inFeatures}→${layer.outFeatures}`;
    case "conv1d":
    case "conv2d":
      return `${layer.kind} ${layer.inChannels}→${layer.outChannels} k${
        layer.kernelSize.join("×")
      }`;
    case "batch-norm-1d":
    case "batch-norm-2d":
      return `${
        layer.kind === "batch-norm-1d" ? "batchNorm1d" : "batchNorm2d"
      } ${layer.numFeatures}`;
    case "embedding":
      return `embedding ${layer.numEmbeddings}×${layer.embeddingDim}`;
    case "sequential":
      return `sequential of ${layer.layers.length}`;
    case "module":
      return `module (${Object.keys(layer.children).join(", ")})`;
    case "dropout":
      return `dropout p=${layer.p}`;
    case "max-pool-2d":
    case "avg-pool-2d":
      return `${camel(layer.kind)} k${layer.kernelSize.join("×")} s${layer.stride.join("×")}`;
    default:
      return camel(layer.kind);
  }
}

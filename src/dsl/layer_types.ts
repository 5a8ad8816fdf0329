/**
 * What each layer is, as a type: the descriptions the factories in `layers.ts`, `conv_layers.ts`,
 * `norm_layers.ts`, `onnx_model.ts` and `graph.ts` build, and `Layer`, their union, which every
 * lowering switches on. Types only: the containers (`sequential`, `module`) hold layers, so the
 * union and the containers live together here, below every file that builds layers.
 * @module
 */
import type { Conv1dLayer, Conv2dLayer, PoolLayer } from "./conv_layers.ts";
import type { SymbolicTensor } from "./layer.ts";
import type { BatchNormLayer, LayerNormLayer } from "./norm_layers.ts";
import type { OnnxModelLayer } from "./onnx_model.ts";

/**
 * Flattens dimensions `startDim..endDim` into one (PyTorch's `nn.Flatten(1, -1)` by default).
 *
 * @example
 * ```ts
 * import { flatten, type FlattenLayer } from "./layers.ts";
 * const f: FlattenLayer = flatten();
 * if (f.startDim !== 1 || f.endDim !== -1) throw new Error();
 * ```
 */
export interface FlattenLayer {
  /** Discriminates the layer union. */
  readonly kind: "flatten";
  /** First dimension flattened (default 1; negative counts from the end). */
  readonly startDim: number;
  /** Last dimension flattened (default -1). */
  readonly endDim: number;
}

/**
 * Reshapes each sample (the batch dimension is kept): `x.view(N, ...shape)`.
 *
 * @example
 * ```ts
 * import { reshape, type ReshapeLayer } from "./layers.ts";
 * const r: ReshapeLayer = reshape(1, 28, 28);
 * if (r.shape.join() !== "1,28,28") throw new Error();
 * ```
 */
export interface ReshapeLayer {
  /** Discriminates the layer union. */
  readonly kind: "reshape";
  /** Shape of each sample; one entry may be -1 (inferred). */
  readonly shape: readonly number[];
}

/**
 * A fully connected layer `y = x·Wᵀ + b` with W of shape [out, in] (PyTorch's `nn.Linear`).
 *
 * @example
 * ```ts
 * import { linear, type LinearLayer } from "./layers.ts";
 * const l: LinearLayer = linear(784, 10, { bias: false });
 * if (l.inFeatures !== 784 || l.bias) throw new Error();
 * ```
 */
export interface LinearLayer {
  /** Discriminates the layer union. */
  readonly kind: "linear";
  /** Size of each input sample (last dimension). */
  readonly inFeatures: number;
  /** Size of each output sample. */
  readonly outFeatures: number;
  /** Whether the layer adds a learnable bias (default true). */
  readonly bias: boolean;
}

/**
 * Parameter-free elementwise activations, one kind each.
 *
 * @example
 * ```ts
 * import { type ActivationLayer, tanh } from "./layers.ts";
 * const a: ActivationLayer = tanh();
 * if (a.kind !== "tanh") throw new Error();
 * ```
 */
export type ActivationLayer =
  | { readonly kind: "relu" }
  | { readonly kind: "sigmoid" }
  | { readonly kind: "tanh" }
  | { readonly kind: "silu" }
  | { readonly kind: "identity" };

/**
 * Gaussian error linear unit, exact (`erf`) or with PyTorch's tanh approximation.
 *
 * @example
 * ```ts
 * import { gelu, type GeluLayer } from "./layers.ts";
 * const g: GeluLayer = gelu({ approximate: "tanh" });
 * if (g.approximate !== "tanh") throw new Error();
 * ```
 */
export interface GeluLayer {
  /** Discriminates the layer union. */
  readonly kind: "gelu";
  /** `"none"` (exact, default) or `"tanh"` approximation. */
  readonly approximate: "none" | "tanh";
}

/**
 * `max(0, x) + negativeSlope·min(0, x)`.
 *
 * @example
 * ```ts
 * import { leakyRelu, type LeakyReluLayer } from "./layers.ts";
 * const l: LeakyReluLayer = leakyRelu({ negativeSlope: 0.1 });
 * if (l.negativeSlope !== 0.1) throw new Error();
 * ```
 */
export interface LeakyReluLayer {
  /** Discriminates the layer union. */
  readonly kind: "leaky-relu";
  /** Slope for negative inputs (default 0.01). */
  readonly negativeSlope: number;
}

/**
 * `x` for x > 0, else `alpha·(exp(x) − 1)`.
 *
 * @example
 * ```ts
 * import { elu, type EluLayer } from "./layers.ts";
 * const e: EluLayer = elu({ alpha: 2 });
 * if (e.alpha !== 2) throw new Error();
 * ```
 */
export interface EluLayer {
  /** Discriminates the layer union. */
  readonly kind: "elu";
  /** Scale of the negative part (default 1). */
  readonly alpha: number;
}

/**
 * Softmax or log-softmax along `dim`.
 *
 * @example
 * ```ts
 * import { logSoftmax, type SoftmaxLayer } from "./layers.ts";
 * const s: SoftmaxLayer = logSoftmax(1);
 * if (s.kind !== "log-softmax" || s.dim !== 1) throw new Error();
 * ```
 */
export type SoftmaxLayer =
  | { readonly kind: "softmax"; readonly dim: number }
  | { readonly kind: "log-softmax"; readonly dim: number };

/**
 * Zeroes elements with probability `p` in training and scales the rest by 1/(1−p).
 *
 * @example
 * ```ts
 * import { dropout, type DropoutLayer } from "./layers.ts";
 * const d: DropoutLayer = dropout(0.2);
 * if (d.p !== 0.2) throw new Error();
 * ```
 */
export interface DropoutLayer {
  /** Discriminates the layer union. */
  readonly kind: "dropout";
  /** Probability of zeroing an element, in [0, 1) (default 0.5). */
  readonly p: number;
}

/**
 * A lookup table of `numEmbeddings` vectors of size `embeddingDim` (PyTorch's `nn.Embedding`).
 *
 * @example
 * ```ts
 * import { embedding, type EmbeddingLayer } from "./layers.ts";
 * const e: EmbeddingLayer = embedding(1000, 16);
 * if (e.numEmbeddings !== 1000 || e.embeddingDim !== 16) throw new Error();
 * ```
 */
export interface EmbeddingLayer {
  /** Discriminates the layer union. */
  readonly kind: "embedding";
  /** Size of the table (token ids are below it). */
  readonly numEmbeddings: number;
  /** Size of each embedding vector. */
  readonly embeddingDim: number;
  /** This row starts at zero and gets no gradient. */
  readonly paddingIdx?: number;
}

/**
 * Layers applied in order; parameters are named by position as in PyTorch (`1.weight`).
 *
 * @example
 * ```ts
 * import { linear, relu, sequential, type SequentialLayer } from "../../mod.ts";
 * const s: SequentialLayer = sequential(linear(4, 8), relu(), linear(8, 2));
 * if (s.layers.length !== 3) throw new Error();
 * ```
 */
export interface SequentialLayer {
  /** Discriminates the layer union. */
  readonly kind: "sequential";
  /** The layers, applied in order. */
  readonly layers: readonly Layer[];
}

/**
 * A module: named children and the traced forward graph (the result of calling the forward
 * function once on a symbolic input). Like a PyTorch `nn.Module` subclass with attributes and a
 * `forward`.
 * @example
 * ```ts
 * import { linear, module, type ModuleLayer } from "../../mod.ts";
 * const m: ModuleLayer = module({ fc: linear(2, 3) }, (x, c) => c.fc(x));
 * if (Object.keys(m.children).join() !== "fc") throw new Error();
 * ```
 */
export interface ModuleLayer {
  /** Discriminates the layer union. */
  readonly kind: "module";
  /** Children by name, in registration order (the order of the record's keys). */
  readonly children: Readonly<Record<string, Layer>>;
  /** The symbolic input the forward function was traced with. */
  readonly input: SymbolicTensor;
  /** The forward function's result. */
  readonly output: SymbolicTensor;
}

/**
 * Any layer. Adding a kind here fails to compile until every lowering handles it.
 *
 * @example
 * ```ts
 * import { type Layer, linear, relu } from "./layers.ts";
 * const layers: Layer[] = [linear(4, 2), relu()];
 * if (layers.map((l) => l.kind).join() !== "linear,relu") throw new Error();
 * ```
 */
export type Layer =
  | FlattenLayer
  | ReshapeLayer
  | LinearLayer
  | ActivationLayer
  | GeluLayer
  | LeakyReluLayer
  | EluLayer
  | SoftmaxLayer
  | DropoutLayer
  | EmbeddingLayer
  | Conv1dLayer
  | Conv2dLayer
  | PoolLayer
  | BatchNormLayer
  | LayerNormLayer
  | OnnxModelLayer
  | SequentialLayer
  | ModuleLayer;

/**
 * The kinds of layer.
 *
 * @example
 * ```ts
 * import type { LayerKind } from "./layers.ts";
 * const kind: LayerKind = "conv2d";
 * if (kind !== "conv2d") throw new Error();
 * ```
 */
export type LayerKind = Layer["kind"];

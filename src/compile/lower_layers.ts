/**
 * Lowerings of the basic layers: linear, embedding, reshaping, activations, softmax, dropout.
 * Composite activations (GELU, SiLU) are built from primitives, so their gradients come free.
 * @module
 */
import { CompileError } from "../ir/errors.ts";
import type { GraphBuilder } from "../ir/builder.ts";
import { dimProduct } from "../ir/dims.ts";
import { type Dim, formatShape, type Value } from "../ir/types.ts";
import { join, type Lowerings } from "./lowering.ts";

/** `axis` normalised against `rank`, or a CompileError naming the shape. */
export function layerAxis(what: string, axis: number, x: Value): number {
  const rank = x.type.shape.length;
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    throw new CompileError(
      `${what} ${axis} is out of range for input shape ${formatShape(x.type.shape)}`,
    );
  }
  return a;
}

/** PyTorch's default init bound for weights and biases with this fan-in: 1/√fan_in. */
export function fanInBound(fanIn: number): number {
  return 1 / Math.sqrt(fanIn);
}

const half = (b: GraphBuilder, x: Value) => b.scalar(0.5, x.type.dtype);

/**
 * GELU, x·Φ(x): exact (`x·0.5·(1 + erf(x/√2))`) or with the tanh approximation
 * (`0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`), as PyTorch's `gelu(approximate=…)`.
 */
export function geluOf(b: GraphBuilder, x: Value, approximate: "none" | "tanh"): Value {
  const t = x.type.dtype;
  if (approximate === "tanh") {
    const x3 = b.op1("Mul", [b.op1("Mul", [x, x]), x]);
    const inner = b.op1("Mul", [
      b.scalar(Math.sqrt(2 / Math.PI), t),
      b.op1("Add", [x, b.op1("Mul", [x3, b.scalar(0.044715, t)])]),
    ]);
    const gate = b.op1("Add", [b.scalar(1, t), b.op1("Tanh", [inner])]);
    return b.op1("Mul", [b.op1("Mul", [half(b, x), x]), gate]);
  }
  const erf = b.op1("Erf", [b.op1("Mul", [x, b.scalar(Math.SQRT1_2, t)])]);
  return b.op1("Mul", [b.op1("Mul", [x, half(b, x)]), b.op1("Add", [b.scalar(1, t), erf])]);
}

/** Basic layer lowerings. */
export const BASIC_LOWERINGS: Lowerings<
  | "flatten"
  | "reshape"
  | "linear"
  | "relu"
  | "sigmoid"
  | "tanh"
  | "silu"
  | "identity"
  | "gelu"
  | "leaky-relu"
  | "elu"
  | "softmax"
  | "log-softmax"
  | "dropout"
  | "embedding"
> = {
  flatten: (layer, x, { b }) => {
    const s = x.type.shape;
    const start = layerAxis("expects startDim", layer.startDim, x);
    const end = layerAxis("expects endDim", layer.endDim, x);
    if (start > end) {
      throw new CompileError(
        `expects startDim ≤ endDim, got ${layer.startDim} and ${layer.endDim} for input shape ${
          formatShape(s)
        }`,
      );
    }
    if (start === 1 && end === s.length - 1) return b.op1("Flatten", [x], { axis: 1 });
    // Copy the leading dimensions (0 keeps a symbolic batch), merge start..end, keep the rest.
    const target: Dim[] = [
      ...s.slice(0, start).map((d, i) => (typeof d === "number" ? d : i === 0 ? 0 : d)),
      dimProduct(s.slice(start, end + 1)),
      ...s.slice(end + 1),
    ];
    if (target.some((d) => typeof d === "string")) {
      if (start === 0) return b.op1("Reshape", [x, b.ints([-1, ...target.slice(1) as number[]])]);
      throw new CompileError(`cannot flatten symbolic dimensions of ${formatShape(s)}`);
    }
    return b.op1("Reshape", [x, b.ints(target as number[])]);
  },
  reshape: (layer, x, { b }) => b.op1("Reshape", [x, b.ints([0, ...layer.shape])]),
  linear: (layer, x, { b, param }, path) => {
    const s = x.type.shape;
    if (s.length !== 2) {
      throw new CompileError(
        `expects input of shape [N, ${layer.inFeatures}], got ${
          formatShape(s)
        } (add flatten() before it?)`,
      );
    }
    if (s[1] !== layer.inFeatures) {
      throw new CompileError(
        `expects ${layer.inFeatures} input features, got ${s[1]} (input shape ${formatShape(s)})`,
      );
    }
    // PyTorch's default: kaiming_uniform_(a=√5) for the weight, i.e. U(±1/√fan_in), and the same
    // bound for the bias.
    const bound = fanInBound(layer.inFeatures);
    const w = param(join(path, "weight"), [layer.outFeatures, layer.inFeatures], {
      kind: "uniform",
      bound,
    });
    const bias = layer.bias
      ? param(join(path, "bias"), [layer.outFeatures], { kind: "uniform", bound })
      : null;
    return b.op1("Gemm", bias ? [x, w, bias] : [x, w], { transB: 1 });
  },
  relu: (_layer, x, { b }) => b.op1("Relu", [x]),
  sigmoid: (_layer, x, { b }) => b.op1("Sigmoid", [x]),
  tanh: (_layer, x, { b }) => b.op1("Tanh", [x]),
  silu: (_layer, x, { b }) => b.op1("Mul", [x, b.op1("Sigmoid", [x])]),
  identity: (_layer, x) => x,
  gelu: (layer, x, { b }) => geluOf(b, x, layer.approximate),
  "leaky-relu": (layer, x, { b }) => b.op1("LeakyRelu", [x], { alpha: layer.negativeSlope }),
  elu: (layer, x, { b }) => b.op1("Elu", [x], { alpha: layer.alpha }),
  softmax: (layer, x, { b }) =>
    b.op1("Softmax", [x], { axis: layerAxis("expects dim", layer.dim, x) }),
  "log-softmax": (layer, x, { b }) =>
    b.op1("LogSoftmax", [x], { axis: layerAxis("expects dim", layer.dim, x) }),
  dropout: (layer, x, { b, mode, mask }, path) => {
    if (mode !== "train" || layer.p === 0) return x;
    return b.op1("Mul", [x, mask(join(path, "dropout_mask"), x.type.shape, layer.p)]);
  },
  embedding: (layer, x, { b, param }, path) => {
    if (x.type.dtype !== "int64") {
      throw new CompileError(
        `expects int64 indices, got ${x.type.dtype}${formatShape(x.type.shape)} ` +
          `(declare the dataset's inputs as integer ids)`,
      );
    }
    let w = param(join(path, "weight"), [layer.numEmbeddings, layer.embeddingDim], {
      kind: "normal",
      std: 1,
      ...(layer.paddingIdx !== undefined ? { zeroRow: layer.paddingIdx } : {}),
    });
    if (layer.paddingIdx !== undefined) {
      // The padding row reads as zero and gets no gradient, as PyTorch's padding_idx.
      const keep = new Float32Array(layer.numEmbeddings).fill(1);
      keep[layer.paddingIdx] = 0;
      const rows = b.constant({ dtype: "float32", shape: [layer.numEmbeddings, 1], data: keep });
      w = b.op1("Mul", [w, rows]);
    }
    return b.op1("Gather", [w, x], { axis: 0 });
  },
};

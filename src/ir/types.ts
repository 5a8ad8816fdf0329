/**
 * The intermediate representation: typed tensors and op nodes, independent of ONNX and the DSL.
 * @module
 */

/**
 * Element types a tensor may hold.
 *
 * @example
 * ```ts
 * import type { DType } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const dtype: DType = x.type.dtype;
 * if (dtype !== "float32") throw new Error();
 * ```
 */
export type DType = "float32" | "float64" | "int64" | "int32" | "uint8" | "bool";

/**
 * A dimension: a number when known, a name (such as `"N"`, the batch) when symbolic.
 *
 * @example
 * ```ts
 * import type { Dim } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const batch: Dim = x.type.shape[0];
 * if (batch !== "N") throw new Error();
 * ```
 */
export type Dim = number | string;

/**
 * A tensor shape; `[]` is a scalar.
 *
 * @example
 * ```ts
 * import type { Shape } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const shape: Shape = x.type.shape;
 * if (typeof shape[0] !== "string" || shape[1] !== 3) throw new Error();
 * ```
 */
export type Shape = readonly Dim[];

/**
 * The static type of a value: element type and shape.
 *
 * @example
 * ```ts
 * import type { TensorType } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const t: TensorType = x.type;
 * if (t.shape.join() !== "N,3") throw new Error();
 * ```
 */
export interface TensorType {
  /** Element type. */
  readonly dtype: DType;
  /** Dimensions; a string is a symbolic dimension such as the batch `N`. */
  readonly shape: Shape;
  /**
   * For a small int64 tensor (a shape, an axis list, a count): its element values where known
   * at compile time, possibly symbolic, as ONNX's data propagation tracks them.
   */
  readonly known?: readonly Dim[];
}

/**
 * Typed array backing a constant of the given dtype.
 *
 * @example
 * ```ts
 * import type { TensorData } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const data: TensorData = Float32Array.of(1, 2, 3);
 * const c = b.constant({ dtype: "float32", shape: [3], data });
 * if (c.type.shape.join() !== "3") throw new Error();
 * ```
 */
export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

/**
 * A constant tensor held in the graph (a Constant node's value or an initializer).
 *
 * @example
 * ```ts
 * import type { ConstTensor } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const t: ConstTensor = { dtype: "int64", shape: [2], data: BigInt64Array.of(1n, 2n) };
 * if (b.constant(t).type.dtype !== "int64") throw new Error();
 * ```
 */
export interface ConstTensor {
  /** Element type. */
  readonly dtype: DType;
  /** Dimensions. */
  readonly shape: readonly number[];
  /** Values, row-major. */
  readonly data: TensorData;
}

/**
 * A value flowing along the graph's edges, produced once by a node or a graph input.
 *
 * @example
 * ```ts
 * import type { Value } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const v: Value = x;
 * if (v.name !== "x" || v.type.shape[0] !== "N") throw new Error();
 * ```
 */
export interface Value {
  /** Unique id within the graph. */
  readonly id: number;
  /** Name (becomes the ONNX value name). */
  readonly name: string;
  /** Element type and shape. */
  readonly type: TensorType;
  /** Set when the value is a compile-time constant, so shape rules can read it. */
  readonly constant?: ConstTensor;
}

/**
 * An attribute value of a node.
 *
 * @example
 * ```ts
 * import type { AttrValue } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const axes: AttrValue = [0, 1];
 * const sum = b.op1("ReduceSum", [x, b.ints([1])], { keepdims: 0 });
 * if (!Array.isArray(axes) || sum.type.shape.join() !== "N") throw new Error();
 * ```
 */
export type AttrValue = number | string | readonly number[] | ConstTensor;

/**
 * Attributes of a node, by name.
 *
 * @example
 * ```ts
 * import type { Attrs } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const attrs: Attrs = graph.nodes[0].attrs;
 * if (Object.keys(attrs).length !== 0) throw new Error("Relu has no attributes");
 * ```
 */
export type Attrs = Readonly<Record<string, AttrValue>>;

/**
 * One operation: its op name, inputs (null for an omitted optional input), outputs, attributes.
 *
 * @example
 * ```ts
 * import type { Node } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const node: Node = graph.nodes[0];
 * if (node.inputs.length !== 1 || node.outputs.length !== 1) throw new Error();
 * ```
 */
export interface Node {
  /** The `ai.onnx` op type, such as `MatMul`. */
  readonly op: string;
  /** Input values; null for an omitted optional input. */
  readonly inputs: readonly (Value | null)[];
  /** Output values. */
  readonly outputs: readonly Value[];
  /** ONNX attributes by name. */
  readonly attrs: Attrs;
  /** Where the node came from, such as `layer 3 (linear 512→10)`, for error messages. */
  readonly origin?: string;
}

/**
 * A named graph input or output.
 *
 * @example
 * ```ts
 * import type { GraphPort } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const port: GraphPort = graph.outputs[0];
 * if (port.name !== "y" || port.value.type.dtype !== "float32") throw new Error();
 * ```
 */
export interface GraphPort {
  /** Name of the graph input or output. */
  readonly name: string;
  /** The value it carries. */
  readonly value: Value;
}

/**
 * A constant bound to a value, as an ONNX initializer (parameters of an inference model).
 *
 * @example
 * ```ts
 * import type { Initializer } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const inits: readonly Initializer[] = graph.initializers;
 * if (inits.length !== 0) throw new Error();
 * ```
 */
export interface Initializer {
  /** The value it initialises. */
  readonly value: Value;
  /** The constant tensor. */
  readonly tensor: ConstTensor;
}

/**
 * A whole graph; nodes are in topological order.
 *
 * @example
 * ```ts
 * import type { Graph } from "./types.ts";
 * import { createGraphBuilder } from "./builder.ts";
 * const b = createGraphBuilder();
 * const x = b.input("x", { dtype: "float32", shape: ["N", 3] });
 * b.output("y", b.op1("Relu", [x]));
 * const graph = b.build("relu");
 * const g: Graph = graph;
 * if (g.nodes[0].op !== "Relu" || g.inputs[0].name !== "x") throw new Error();
 * ```
 */
export interface Graph {
  /** Graph name. */
  readonly name: string;
  /** Graph inputs, in order. */
  readonly inputs: readonly GraphPort[];
  /** Graph outputs, in order. */
  readonly outputs: readonly GraphPort[];
  /** Nodes in topological order. */
  readonly nodes: readonly Node[];
  /** Constant tensors stored in the model. */
  readonly initializers: readonly Initializer[];
}

/** Whether a dtype is a floating-point type (and so differentiable). */
export function isFloat(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64";
}

/** The number of elements of a fully known shape. */
export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Formats a shape as `[N, 784]`. */
export function formatShape(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

/** Formats a type as `float32[N, 784]`. */
export function formatType(type: TensorType): string {
  return `${type.dtype}${formatShape(type.shape)}`;
}

/** Whether every dimension is a number. */
export function isStatic(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === "number");
}

/**
 * The intermediate representation: typed tensors and op nodes, independent of ONNX and the DSL.
 * @module
 */

/** Element types a tensor may hold. */
export type DType = "float32" | "float64" | "int64" | "int32" | "uint8" | "bool";

/** A dimension: a number when known, a name (such as `"N"`, the batch) when symbolic. */
export type Dim = number | string;

/** A tensor shape; `[]` is a scalar. */
export type Shape = readonly Dim[];

/** The static type of a value: element type and shape. */
export interface TensorType {
  readonly dtype: DType;
  readonly shape: Shape;
  /**
   * For a small int64 tensor (a shape, an axis list, a count): its element values where known
   * at compile time, possibly symbolic, as ONNX's data propagation tracks them.
   */
  readonly known?: readonly Dim[];
}

/** Typed array backing a constant of the given dtype. */
export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

/** A constant tensor held in the graph (a Constant node's value or an initializer). */
export interface ConstTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

/** A value flowing along the graph's edges, produced once by a node or a graph input. */
export interface Value {
  readonly id: number;
  readonly name: string;
  readonly type: TensorType;
  /** Set when the value is a compile-time constant, so shape rules can read it. */
  readonly constant?: ConstTensor;
}

/** An attribute value of a node. */
export type AttrValue = number | string | readonly number[] | ConstTensor;

/** Attributes of a node, by name. */
export type Attrs = Readonly<Record<string, AttrValue>>;

/** One operation: its op name, inputs (null for an omitted optional input), outputs, attributes. */
export interface Node {
  readonly op: string;
  readonly inputs: readonly (Value | null)[];
  readonly outputs: readonly Value[];
  readonly attrs: Attrs;
  /** Where the node came from, such as `layer 3 (linear 512→10)`, for error messages. */
  readonly origin?: string;
}

/** A named graph input or output. */
export interface GraphPort {
  readonly name: string;
  readonly value: Value;
}

/** A constant bound to a value, as an ONNX initializer (parameters of an inference model). */
export interface Initializer {
  readonly value: Value;
  readonly tensor: ConstTensor;
}

/** A whole graph; nodes are in topological order. */
export interface Graph {
  readonly name: string;
  readonly inputs: readonly GraphPort[];
  readonly outputs: readonly GraphPort[];
  readonly nodes: readonly Node[];
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

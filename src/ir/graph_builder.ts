/**
 * What a graph builder offers (`GraphBuilder`), apart from how `createGraphBuilder` in
 * `builder.ts` does it: the op tables' gradient rules build nodes through this interface, and the
 * builder checks each node against those tables.
 * @module
 */
import type { OpName } from "./ops/op_names.ts";
import type {
  Attrs,
  ConstTensor,
  Dim,
  DType,
  Graph,
  Initializer,
  Node,
  TensorType,
  Value,
} from "./types.ts";

/** Options of one node. */
export interface OpOptions {
  /** How many outputs the node has (default 1). */
  readonly outputs?: number;
  /** A readable name for the first output. */
  readonly name?: string;
  /**
   * Values of the first output known at compile time (possibly symbolic), for a small integer
   * tensor whose shape rule does not track them: ONNX data propagation done by the caller.
   */
  readonly known?: readonly Dim[];
}

/** Appends typed nodes to a graph under construction. */
export interface GraphBuilder {
  /** Declares a graph input. */
  input(name: string, type: TensorType): Value;
  /** Adds a constant tensor. */
  constant(tensor: ConstTensor, name?: string): Value;
  /** Adds a scalar constant (float32 unless dtype says otherwise; float rules pass their dtype). */
  scalar(value: number, dtype?: DType): Value;
  /** Adds a 1-D int64 constant, for shapes and axes. */
  ints(values: readonly number[]): Value;
  /** Adds a node and returns its outputs. */
  op(op: OpName, inputs: readonly (Value | null)[], attrs?: Attrs, options?: OpOptions): Value[];
  /** Adds a single-output node and returns its output. */
  op1(op: OpName, inputs: readonly (Value | null)[], attrs?: Attrs, name?: string): Value;
  /** Runs `fn` with `origin` recorded on every node it adds and named in its errors. */
  scope<T>(origin: string, fn: () => T): T;
  /** Declares a graph output. */
  output(name: string, value: Value): void;
  /** The nodes added so far, in order. */
  readonly nodes: readonly Node[];
  /** Returns the finished, frozen graph. */
  build(name: string, initializers?: readonly Initializer[]): Graph;
}

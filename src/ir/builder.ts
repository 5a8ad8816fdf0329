/**
 * Builds IR graphs node by node, inferring each output's type from the op's shape rule.
 * @module
 */
import { CompileError } from "./errors.ts";
import { type OpName, OPS } from "./ops/mod.ts";
import type {
  Attrs,
  ConstTensor,
  Dim,
  DType,
  Graph,
  GraphPort,
  Initializer,
  Node,
  TensorType,
  Value,
} from "./types.ts";
import { UserTypeError } from "../util/user_error.ts";

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

/**
 * Creates a builder, optionally continuing an existing graph (its inputs and nodes are kept,
 * its outputs dropped).
 *
 * @param base A graph to extend.
 * @returns A new builder.
 */
export function createGraphBuilder(base?: Graph): GraphBuilder {
  const nodes: Node[] = [...(base?.nodes ?? [])];
  const inputs: GraphPort[] = [...(base?.inputs ?? [])];
  const outputs: GraphPort[] = [];
  const names = new Set<string>();
  let nextId = 0;
  for (const port of inputs) mark(port.value);
  for (const node of nodes) node.outputs.forEach(mark);
  function mark(v: Value) {
    names.add(v.name);
    nextId = Math.max(nextId, v.id + 1);
  }
  let origin: string | undefined;

  const uniqueName = (hint: string): string => {
    let name = hint;
    for (let i = 1; names.has(name); i++) name = `${hint}_${i}`;
    names.add(name);
    return name;
  };
  const newValue = (hint: string, type: TensorType, constant?: ConstTensor): Value =>
    Object.freeze({
      id: nextId++,
      name: uniqueName(hint),
      type,
      ...(constant ? { constant } : {}),
    });

  const builder: GraphBuilder = {
    input(name, type) {
      if (names.has(name)) throw new CompileError(`Cannot add graph input ${name}: name in use`);
      const value = newValue(
        name,
        Object.freeze({ ...type, shape: Object.freeze([...type.shape]) }),
      );
      inputs.push(Object.freeze({ name, value }));
      return value;
    },
    constant(tensor, name) {
      const [type] = OPS.Constant.infer([], { value: tensor });
      const value = newValue(name ?? `const${nextId}`, type, tensor);
      nodes.push(
        Object.freeze({ op: "Constant", inputs: [], outputs: [value], attrs: { value: tensor } }),
      );
      return value;
    },
    scalar(value, dtype = "float32") {
      const data = dtype === "int64"
        ? BigInt64Array.of(BigInt(value))
        : dtype === "float32"
        ? Float32Array.of(value)
        : dtype === "float64"
        ? Float64Array.of(value)
        : undefined;
      if (!data) throw new UserTypeError(`Cannot make a scalar constant of dtype ${dtype}`);
      return builder.constant(Object.freeze({ dtype, shape: [], data }));
    },
    ints(values) {
      return builder.constant(Object.freeze({
        dtype: "int64",
        shape: [values.length],
        data: BigInt64Array.from(values, BigInt),
      }));
    },
    op(op, nodeInputs, attrs = {}, options = {}) {
      const def = OPS[op];
      let types: TensorType[];
      try {
        types = def.infer(nodeInputs, attrs);
      } catch (e) {
        if (!(e instanceof CompileError) || origin === undefined) throw e;
        throw new CompileError(`${origin}: ${e.message}`);
      }
      const count = options.outputs ?? 1;
      const k = options.known;
      if (k && types[0] && !types[0].known && types[0].shape.length <= 1) {
        types[0] = Object.freeze({ ...types[0], known: Object.freeze([...k]) });
      }
      const outs = types.slice(0, count).map((t, i) =>
        newValue(i === 0 && options.name ? options.name : `${op}_${nextId}`, t)
      );
      nodes.push(Object.freeze({
        op,
        inputs: Object.freeze([...nodeInputs]),
        outputs: Object.freeze(outs),
        attrs: Object.freeze({ ...attrs }),
        ...(origin !== undefined ? { origin } : {}),
      }));
      return outs;
    },
    op1(op, nodeInputs, attrs, name) {
      return builder.op(op, nodeInputs, attrs, { name })[0];
    },
    scope(o, fn) {
      const saved = origin;
      origin = o;
      try {
        return fn();
      } finally {
        origin = saved;
      }
    },
    output(name, value) {
      outputs.push(Object.freeze({ name, value }));
    },
    get nodes() {
      return nodes;
    },
    build(name, initializers = []) {
      return Object.freeze({
        name,
        inputs: Object.freeze([...inputs]),
        outputs: Object.freeze([...outputs]),
        nodes: Object.freeze([...nodes]),
        initializers: Object.freeze([...initializers]),
      });
    },
  };
  return builder;
}

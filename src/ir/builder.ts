/**
 * Builds IR graphs node by node, inferring each output's type from the op's shape rule. The
 * interface it implements, `GraphBuilder`, is in `graph_builder.ts` (the op tables use it).
 * @module
 */
import { CompileError } from "./errors.ts";
import type { GraphBuilder } from "./graph_builder.ts";
import { OPS } from "./ops/mod.ts";
import type { ConstTensor, Graph, GraphPort, Node, TensorType, Value } from "./types.ts";
import { UserTypeError } from "../util/user_error.ts";

export type { GraphBuilder, OpOptions } from "./graph_builder.ts";

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

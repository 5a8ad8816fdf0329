/**
 * A pass over the finished train and eval graphs: a one-element operand of a broadcasting
 * elementwise op gets the full rank of the result when the result's last axis is 1.
 *
 * Why: onnxruntime's CPU broadcasting splits such an op into spans of the trailing axes the two
 * operands share; a scalar (`[]` or `[1]`) against `[1280, 320, 1, 1]` leaves spans of one
 * element, about 25 ns each instead of 0.3 ns (measured with onnxruntime 1.30: `Mul` of
 * [1280, 320, 1, 1] by a `[]` scalar 11.1 ms, by a `[1, 1, 1, 1]` one 0.14 ms). Every SGD,
 * momentum and Adam update of a 1×1 convolution's weight is such an op. A constant scalar is
 * re-emitted with the full rank; a computed one (a hyperparameter input) goes through one
 * `Reshape` per rank, shared by its users. Results are unchanged: the values and the broadcast
 * result shape are the same.
 * @module
 */
import { createGraphBuilder } from "../ir/builder.ts";
import type { Graph, Node, Value } from "../ir/types.ts";

/** The ops with ONNX's multidirectional broadcasting. */
const BROADCASTING = new Set([
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Pow",
  "Max",
  "Min",
  "Sum",
  "Mean",
  "Mod",
  "Equal",
  "Less",
  "LessOrEqual",
  "Greater",
  "GreaterOrEqual",
  "And",
  "Or",
  "Xor",
  "Where",
  "PRelu",
]);

/** Whether `v` has exactly one element and fewer than `rank` axes. */
const shortScalar = (v: Value, rank: number) =>
  v.type.shape.length < rank && v.type.shape.every((d) => d === 1);

/** Whether onnxruntime would run `node` element by element (see the module comment). */
function slowBroadcast(node: Node): boolean {
  if (!BROADCASTING.has(node.op)) return false;
  const shape = node.outputs[0].type.shape;
  return shape.at(-1) === 1 && node.inputs.some((v) => v && shortScalar(v, shape.length));
}

/**
 * Gives one-element operands the result's rank where onnxruntime would otherwise go element by
 * element.
 *
 * @param graph A train or eval graph.
 * @returns The graph with those operands reshaped (the same graph when there are none).
 */
export function padScalarOperands(graph: Graph): Graph {
  if (!graph.nodes.some(slowBroadcast)) return graph;
  const b = createGraphBuilder(graph);
  const padded = new Map<string, Value>();
  const rewritten = new Map<Node, Node[]>();
  for (const node of graph.nodes) {
    if (!slowBroadcast(node)) continue;
    const rank = node.outputs[0].type.shape.length;
    const start = b.nodes.length;
    const inputs = node.inputs.map((v) => {
      if (!v || !shortScalar(v, rank)) return v;
      const key = `${v.id}:${rank}`;
      let p = padded.get(key);
      if (!p) {
        const ones: number[] = Array(rank).fill(1);
        p = v.constant
          ? b.constant({ ...v.constant, shape: ones })
          : b.op1("Reshape", [v, b.ints(ones)]);
        padded.set(key, p);
      }
      return p;
    });
    rewritten.set(node, [...b.nodes.slice(start), Object.freeze({ ...node, inputs })]);
  }
  return Object.freeze({
    ...graph,
    nodes: Object.freeze(graph.nodes.flatMap((n) => rewritten.get(n) ?? [n])),
  });
}

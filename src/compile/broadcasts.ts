/**
 * Passes over the finished train and eval graphs for two broadcasts that onnxruntime's CPU kernels
 * run a few elements at a time. Results are unchanged.
 *
 * - {@linkcode padScalarOperands}: a one-element operand of a broadcasting elementwise op gets the
 *   full rank of the result when the result's last axis is 1. onnxruntime splits such an op into
 *   spans of the trailing axes the operands share; a scalar (`[]` or `[1]`) against
 *   `[1280, 320, 1, 1]` leaves spans of one element, about 25 ns each instead of 0.3 ns
 *   (onnxruntime 1.30: `Mul` of [1280, 320, 1, 1] by a `[]` scalar 11.1 ms, by a `[1, 1, 1, 1]`
 *   one 0.14 ms). Every SGD, momentum and Adam update of a 1×1 convolution's weight is such an
 *   op. A constant scalar is re-emitted with the full rank; a computed one (a hyperparameter
 *   input) goes through one `Reshape` per rank, shared by its users.
 * - {@linkcode expandsByMatMul}: an `Expand` of trailing unit axes ([N, C, 1, 1] → [N, C, H, W],
 *   the gradient of a global average pool or mean) becomes an outer product with ones,
 *   [N·C, 1] · [1, H·W]: 1.6 → 0.5 ms for [32, 1280, 1, 1] → [32, 1280, 2, 2], 0.89 → 0.12 ms
 *   for [32, 672, 4, 4], equal at 16×16. Each output is x·1, exact.
 * @module
 */
import { createGraphBuilder } from "../ir/builder.ts";
import { dimsEqual } from "../ir/dims.ts";
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

/** How many trailing axes an Expand node broadcasts from 1 to static sizes, when only those. */
function trailingExpand(node: Node): number {
  const [x] = node.inputs, y = node.outputs[0];
  if (node.op !== "Expand" || !x || x.type.dtype !== "float32") return 0;
  const xs = x.type.shape, ys = y.type.shape;
  if (xs.length !== ys.length) return 0;
  let j = xs.length;
  while (j > 1 && xs[j - 1] === 1 && typeof ys[j - 1] === "number") j--;
  const broadcast = ys.slice(j) as number[];
  if (broadcast.reduce((p, d) => p * d, 1) < 2) return 0;
  return xs.slice(0, j).every((d, i) => dimsEqual(d, ys[i])) ? xs.length - j : 0;
}

/**
 * Rewrites each Expand of trailing unit axes as an outer product with ones (see the module
 * comment).
 *
 * @param graph A train or eval graph.
 * @returns The graph with those Expands rewritten (the same graph when there are none).
 */
export function expandsByMatMul(graph: Graph): Graph {
  if (!graph.nodes.some(trailingExpand)) return graph;
  const b = createGraphBuilder(graph);
  const rewritten = new Map<Node, Node[]>();
  for (const node of graph.nodes) {
    const t = trailingExpand(node);
    if (t === 0) continue;
    const x = node.inputs[0] as Value, y = node.outputs[0];
    const trailing = y.type.shape.slice(-t) as number[];
    const size = trailing.reduce((p, d) => p * d, 1);
    const start = b.nodes.length;
    const ones = b.constant({
      dtype: "float32",
      shape: [1, size],
      data: new Float32Array(size).fill(1),
    });
    // [*lead, 1, …, 1] → [*lead, 1] · [1, ∏trailing] → [*lead, *trailing]; Reshape's 0s copy the
    // leading axes, a symbolic batch included.
    const lead: number[] = Array(y.type.shape.length - t).fill(0);
    const outer = b.op1("MatMul", [b.op1("Reshape", [x, b.ints([...lead, 1])]), ones]);
    b.op1("Reshape", [outer, b.ints([...lead, ...trailing])]);
    const added = b.nodes.slice(start);
    const last = added[added.length - 1];
    rewritten.set(node, [
      ...added.slice(0, -1),
      Object.freeze({ ...last, outputs: Object.freeze([y]), origin: node.origin }),
    ]);
  }
  return Object.freeze({
    ...graph,
    nodes: Object.freeze(graph.nodes.flatMap((n) => rewritten.get(n) ?? [n])),
  });
}

/**
 * Both rewrites of this module.
 *
 * @param graph A train or eval graph.
 * @returns The rewritten graph.
 */
export function speedUpBroadcasts(graph: Graph): Graph {
  return expandsByMatMul(padScalarOperands(graph));
}

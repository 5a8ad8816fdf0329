/**
 * A pass over the finished train and eval graphs: every Conv and ConvTranspose whose images have
 * few output (or, transposed, input) positions becomes one GEMM over the whole batch
 * (`convByGemm`, `convTransposeByGemm` in the op table's module). The inference export keeps
 * plain Conv nodes.
 * @module
 */
import { createGraphBuilder } from "../ir/builder.ts";
import { convByGemm, convTransposeByGemm, smallConv } from "../ir/ops/conv.ts";
import type { Graph, Node } from "../ir/types.ts";

/**
 * Rewrites the graph's small convolutions (see `SMALL_CONV_POSITIONS`).
 *
 * @param graph A train or eval graph.
 * @returns The graph with them rewritten (the same graph when there are none).
 */
export function lowerSmallConvs(graph: Graph): Graph {
  if (!graph.nodes.some(smallConv)) return graph;
  const b = createGraphBuilder(graph);
  const replaced = new Map<Node, Node[]>();
  for (const node of graph.nodes) {
    if (!smallConv(node)) continue;
    const start = b.nodes.length;
    const rewrite = () => node.op === "Conv" ? convByGemm(b, node) : convTransposeByGemm(b, node);
    const y = node.origin ? b.scope(node.origin, rewrite) : rewrite();
    const added = b.nodes.slice(start);
    // The last node computes y; it takes over the original output value, which later nodes read.
    const last = added[added.length - 1];
    if (last.outputs[0].id !== y.id) throw new Error("lowerSmallConvs: y is not the last output");
    replaced.set(node, [
      ...added.slice(0, -1),
      { ...last, outputs: [node.outputs[0]], origin: node.origin },
    ]);
  }
  return Object.freeze({
    ...graph,
    nodes: Object.freeze(graph.nodes.flatMap((n) => replaced.get(n) ?? [n])),
  });
}

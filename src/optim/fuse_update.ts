/**
 * A peephole pass over the finished train graph: a plain SGD update of a weight whose gradient is
 * a Gemm, `W − Mul(Gemm(A, B), lr)`, becomes one Gemm that accumulates onto the weight,
 * `Gemm(Mul(A, lr), B, W, alpha = −α, beta = 1)`. The learning rate then scales the smaller Gemm
 * operand (the `[N, out]` output gradient instead of the `[out, in]` weight gradient) and two
 * full-size elementwise passes over the weight disappear. The result differs from the unfused
 * update only by float rounding (the product is rounded before the dot products instead of
 * after): within 1 ulp of the update, far below the weight's own rounding.
 * @module
 */
import type { Graph, Node, Value } from "../ir/types.ts";

/** Size of a tensor for choosing the operand to scale, a symbolic dimension counted as 64. */
function sizeOf(v: Value): number {
  return v.type.shape.reduce<number>((n, d) => n * (typeof d === "number" ? d : 64), 1);
}

/**
 * Fuses `Sub(W, Mul(Gemm(A, B), lr))` (each intermediate used once; the Gemm without C; `lr` a
 * scalar) into `Gemm(Mul(A, lr), B, W, transA, transB, alpha = −α, beta = 1)`, scaling whichever
 * of A and B is smaller.
 *
 * @param graph The train graph.
 * @returns The graph with fused updates (the same graph when nothing matched).
 */
export function fuseGemmUpdates(graph: Graph): Graph {
  const producer = new Map<number, Node>();
  const uses = new Map<number, number>();
  for (const node of graph.nodes) {
    for (const out of node.outputs) producer.set(out.id, node);
    for (const v of node.inputs) if (v) uses.set(v.id, (uses.get(v.id) ?? 0) + 1);
  }
  for (const port of graph.outputs) uses.set(port.value.id, (uses.get(port.value.id) ?? 0) + 1);
  let nextId = 1 + Math.max(
    ...graph.inputs.map((p) => p.value.id),
    ...graph.initializers.map((i) => i.value.id),
    ...graph.nodes.flatMap((n) => n.outputs.map((v) => v.id)),
  );
  const replaced = new Map<Node, Node[]>(), removed = new Set<Node>();
  for (const sub of graph.nodes) {
    if (sub.op !== "Sub") continue;
    const [w, m] = sub.inputs;
    const mul = m && producer.get(m.id);
    if (!w || !m || !mul || mul.op !== "Mul" || uses.get(m.id) !== 1) continue;
    const [g, lr] = mul.inputs;
    const gemm = g && producer.get(g.id);
    if (!g || !lr || !gemm || gemm.op !== "Gemm" || uses.get(g.id) !== 1) continue;
    if (gemm.inputs.length > 2 && gemm.inputs[2]) continue;
    if (lr.type.shape.length !== 0) continue;
    const same = (a: Value, b: Value) =>
      a.type.dtype === b.type.dtype && a.type.shape.join() === b.type.shape.join();
    if (!same(w, sub.outputs[0]) || !same(g, w)) continue;
    const [a, b] = gemm.inputs as Value[];
    const scaleA = sizeOf(a) <= sizeOf(b);
    const scaled: Value = {
      id: nextId++,
      name: `${sub.outputs[0].name}.lr_scaled`,
      type: (scaleA ? a : b).type,
    };
    const alpha = typeof gemm.attrs.alpha === "number" ? gemm.attrs.alpha : 1;
    replaced.set(sub, [
      { op: "Mul", inputs: [scaleA ? a : b, lr], outputs: [scaled], attrs: {}, origin: sub.origin },
      {
        op: "Gemm",
        inputs: scaleA ? [scaled, b, w] : [a, scaled, w],
        outputs: sub.outputs,
        attrs: { ...gemm.attrs, alpha: -alpha, beta: 1 },
        // Both: the backward Gemm it was and the update it now does (profiles name both).
        origin: [gemm.origin, sub.origin].filter((o) => o).join(" + "),
      },
    ]);
    removed.add(mul).add(gemm);
  }
  if (!replaced.size) return graph;
  return Object.freeze({
    ...graph,
    nodes: Object.freeze(
      graph.nodes.flatMap((n) => (removed.has(n) ? [] : replaced.get(n) ?? [n])),
    ),
  });
}

/**
 * A pass over the finished train and eval graphs: nodes that compute the same thing (the same op,
 * attributes and inputs, or constants of equal value) become one, and their readers read the one
 * kept. Every IR op is deterministic, so this changes no value.
 *
 * What it finds: the im2col columns that a small convolution's forward GEMM gathers
 * (`convByGemm`) and that its weight gradient gathers again from the same input, the transposed
 * layouts of one activation taken by several gradient rules, and the many equal shape and index
 * constants the rules emit. onnxruntime's own common-subexpression pass does not merge nodes that
 * read separate but equal constants, which is why these survive it.
 * @module
 */
import type { AttrValue, ConstTensor, Graph, Node, Value } from "../ir/types.ts";

/** FNV-1a over the bytes: a bucket, not an identity (equal buckets are compared in full). */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

/** Gives equal constant tensors, and only those, the same string (runs in browsers too). */
function tensorKeys(): (t: ConstTensor) => string {
  const buckets = new Map<string, Uint8Array[]>();
  return (t) => {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const bucket = `${t.dtype}[${t.shape}]${fnv1a(bytes).toString(36)}`;
    const seen = buckets.get(bucket) ?? [];
    buckets.set(bucket, seen);
    let i = seen.findIndex((s) => s.length === bytes.length && s.every((x, j) => x === bytes[j]));
    if (i < 0) i = seen.push(bytes) - 1;
    return `${bucket}.${i}`;
  };
}

/**
 * Merges the graph's duplicate nodes (see the module comment).
 *
 * @param graph A train or eval graph.
 * @returns The graph with each duplicate's readers and outputs moved to the node kept (the same
 *   graph when there are none).
 */
export function shareDuplicates(graph: Graph): Graph {
  const tensorKey = tensorKeys();
  const attrKey = (v: AttrValue): string =>
    typeof v === "object" && !Array.isArray(v) ? tensorKey(v as ConstTensor) : JSON.stringify(v);
  const kept = new Map<string, Node>();
  const moved = new Map<number, Value>();
  const nodes: Node[] = [];
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((v) => v && (moved.get(v.id) ?? v));
    const key = [
      node.op,
      node.outputs.length,
      ...Object.keys(node.attrs).sort().map((k) => `${k}=${attrKey(node.attrs[k])}`),
      ...inputs.map((v) => v?.id ?? "-"),
    ].join("|");
    const same = kept.get(key);
    if (same) {
      node.outputs.forEach((v, i) => moved.set(v.id, same.outputs[i]));
      continue;
    }
    const n = inputs.some((v, i) => v !== node.inputs[i])
      ? Object.freeze({ ...node, inputs: Object.freeze(inputs) })
      : node;
    kept.set(key, n);
    nodes.push(n);
  }
  if (moved.size === 0) return graph;
  return Object.freeze({
    ...graph,
    nodes: Object.freeze(nodes),
    outputs: Object.freeze(graph.outputs.map((port) => {
      const value = moved.get(port.value.id);
      return value ? Object.freeze({ ...port, value }) : port;
    })),
  });
}

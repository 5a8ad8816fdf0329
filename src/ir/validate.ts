/** Graph validation: definitions before uses, unique names, types that match the shape rules. @module */
import { CompileError } from "./errors.ts";
import { OPS } from "./ops/mod.ts";
import { formatType, type Graph, type TensorType } from "./types.ts";

function sameType(a: TensorType, b: TensorType): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length &&
    a.shape.every((d, i) => d === b.shape[i]);
}

/**
 * Checks that a graph is well formed: every value is defined once before it is used, names are
 * unique, ops are known, and each node's output types are what its shape rule infers.
 *
 * @param graph The graph to check.
 * @returns The same graph.
 * @throws {CompileError} Naming the graph, the node and the problem.
 */
export function validateGraph(graph: Graph): Graph {
  const fail = (msg: string): never => {
    throw new CompileError(`Invalid graph ${graph.name}: ${msg}`);
  };
  const defined = new Set<number>();
  const names = new Set<string>();
  const define = (id: number, name: string) => {
    if (defined.has(id)) fail(`value ${name} is defined twice`);
    if (names.has(name)) fail(`name ${name} is used by two values`);
    defined.add(id);
    names.add(name);
  };
  for (const p of graph.inputs) define(p.value.id, p.value.name);
  for (const i of graph.initializers) define(i.value.id, i.value.name);
  graph.nodes.forEach((node, n) => {
    const where = `node ${n} (${node.op}${node.origin ? ` in ${node.origin}` : ""})`;
    const def = OPS[node.op as keyof typeof OPS];
    if (!def) fail(`${where} uses unknown op ${node.op}`);
    for (const v of node.inputs) {
      if (v && !defined.has(v.id)) fail(`${where} uses value ${v.name} before it is defined`);
    }
    const inferred = def.infer(node.inputs, node.attrs);
    node.outputs.forEach((v, i) => {
      if (!sameType(v.type, inferred[i])) {
        fail(
          `${where} output ${v.name} is ${formatType(v.type)}, its rule says ${
            formatType(inferred[i])
          }`,
        );
      }
      define(v.id, v.name);
    });
  });
  for (const p of graph.outputs) {
    if (!defined.has(p.value.id)) fail(`output ${p.name} is never computed`);
  }
  return graph;
}

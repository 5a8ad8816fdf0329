/**
 * Benchmark: milliseconds per run of the Conv gradient graphs (dX and dW separately) and of
 * MaxPool's gradient, for the two conv layers of the CNN in `pipelines/fmnist_cnn.ts` (batch 64),
 * on onnxruntime CPU through `createSession`. Each graph is built by calling the op's gradient
 * rule directly on a forward node, with dY a graph input.
 *
 *     deno run -P bench/conv_grad.ts [--runs 50] [--threads N]
 * @module
 */
import { parseArgs } from "node:util";
import { intArg, oneLineErrors } from "./_cli.ts";
import { createGraphBuilder, type GraphBuilder } from "../src/ir/builder.ts";
import { OPS } from "../src/ir/ops/mod.ts";
import type { OpName } from "../src/ir/ops/op_def.ts";
import type { Attrs, Node, Value } from "../src/ir/types.ts";
import { validateGraph } from "../src/ir/validate.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { createSession, type HostTensor } from "../src/runtime/session.ts";

oneLineErrors("conv_grad");
const { values: flags } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "50" }, threads: { type: "string" } },
});
const runs = intArg("--runs", flags.runs);
const threads = flags.threads ? intArg("--threads", flags.threads) : undefined;

/** A float32 host tensor of `dims` holding a fixed pseudo-random pattern in [-1, 1). */
function filled(dims: readonly number[], seed: number): HostTensor {
  const n = dims.reduce((a, d) => a * d, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 31 - 1;
  }
  return { dtype: "float32", dims, data };
}

/**
 * Milliseconds per run of the graph `build` makes, fed with `feeds`. Nodes `build` puts in
 * `drop` (a forward node whose gradient rule was called) are left out of the graph.
 */
async function time(
  build: (b: GraphBuilder, x: Record<string, Value>, drop: Set<Node>) => Value,
  feeds: Record<string, HostTensor>,
): Promise<number> {
  const b = createGraphBuilder();
  const x: Record<string, Value> = {};
  for (const [name, t] of Object.entries(feeds)) {
    x[name] = b.input(name, { dtype: "float32", shape: [...t.dims] });
  }
  const drop = new Set<Node>();
  b.output("out", build(b, x, drop));
  const graph = b.build("bench");
  const kept = { ...graph, nodes: graph.nodes.filter((n) => !drop.has(n)) };
  const session = await createSession(emitModel(validateGraph(kept)), { threads });
  try {
    for (let i = 0; i < 5; i++) await session.run(feeds);
    // The best of 5 batches: other processes on a small machine inflate some batches.
    let best = Infinity;
    const batch = Math.max(1, Math.round(runs / 5));
    for (let j = 0; j < 5; j++) {
      const t0 = performance.now();
      for (let i = 0; i < batch; i++) await session.run(feeds);
      best = Math.min(best, (performance.now() - t0) / batch);
    }
    return best;
  } finally {
    await session.release();
  }
}

/** The gradient a rule returns for input `which` of the last node `b` holds. */
function gradOf(b: GraphBuilder, dy: readonly Value[], which: number, inputs: number): Value {
  const node = b.nodes[b.nodes.length - 1];
  return gradOfNode(b, node, dy, which, inputs);
}

/** The gradient `node`'s rule returns for its input `which`. */
function gradOfNode(
  b: GraphBuilder,
  node: Node,
  dy: readonly Value[],
  which: number,
  inputs: number,
): Value {
  const needs = Array.from({ length: inputs }, (_, i) => i === which);
  const g = OPS[node.op as OpName].grad!({ b, node, dy, needs })[which];
  if (!g) throw new Error(`${node.op} gave no gradient for input ${which}`);
  return g;
}

const convAttrs: Attrs = { pads: [1, 1, 1, 1] };
const convs = [
  { name: "conv1 X[64,1,28,28] W[16,1,3,3]", x: [64, 1, 28, 28], w: [16, 1, 3, 3] },
  { name: "conv2 X[64,16,14,14] W[32,16,3,3]", x: [64, 16, 14, 14], w: [32, 16, 3, 3] },
];
const fmt = (ms: number) => ms.toFixed(3).padStart(8);
console.log(
  `ms per run (best batch of ${Math.max(1, Math.round(runs / 5))} of 5, threads ${
    threads ?? "default"
  })`,
);
for (const c of convs) {
  const y = [c.x[0], c.w[0], c.x[2], c.x[3]];
  const feeds = { x: filled(c.x, 1), w: filled(c.w, 2), bias: filled([c.w[0]], 3) };
  // The forward Conv is dropped: only the gradient's own nodes run.
  const grad = (which: number) => (b: GraphBuilder, v: Record<string, Value>, drop: Set<Node>) => {
    b.op1("Conv", [v.x, v.w, v.bias], convAttrs);
    const node = b.nodes[b.nodes.length - 1];
    drop.add(node);
    return gradOfNode(b, node, [v.dy], which, 3);
  };
  const withDy = { ...feeds, dy: filled(y, 4) };
  const fwd = await time((b, v) => b.op1("Conv", [v.x, v.w, v.bias], convAttrs), feeds);
  const dx = await time(grad(0), withDy);
  const dw = await time(grad(1), withDy);
  console.log(`${c.name.padEnd(36)} forward ${fmt(fwd)}  dX ${fmt(dx)}  dW ${fmt(dw)}`);
}

// MaxPool: the gradient needs the forward's Indices output, which onnxruntime computes on a
// slower path than the values alone; "dX" is the two-output forward plus the gradient, less the
// two-output forward.
const pools = [
  { name: "maxpool1 X[64,16,28,28] k2", x: [64, 16, 28, 28] },
  { name: "maxpool2 X[64,32,14,14] k2", x: [64, 32, 14, 14] },
];
const poolAttrs: Attrs = { kernel_shape: [2, 2], strides: [2, 2] };
for (const p of pools) {
  const y = [p.x[0], p.x[1], p.x[2] / 2, p.x[3] / 2];
  const x = filled(p.x, 5);
  const fwd = await time((b, v) => b.op1("MaxPool", [v.x], poolAttrs), { x });
  const withIndices = await time(
    (b, v) => b.op("MaxPool", [v.x], poolAttrs, { outputs: 2 })[1],
    { x },
  );
  const both = await time((b, v) => {
    b.op("MaxPool", [v.x], poolAttrs, { outputs: 2 });
    return gradOf(b, [v.dy], 0, 1);
  }, { x, dy: filled(y, 6) });
  console.log(
    `${p.name.padEnd(36)} forward ${fmt(fwd)}  with Indices ${fmt(withIndices)}  dX ${
      fmt(both - withIndices)
    }`,
  );
}

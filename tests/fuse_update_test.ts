// The SGD update fused into the weight-gradient Gemm: W − lr·(αA'B') computed as
// Gemm(lr·A, B, W, alpha = −α, beta = 1); the same numbers up to float rounding, fewer ops.
import { createGraphBuilder } from "../src/ir/builder.ts";
import type { Graph } from "../src/ir/types.ts";
import { validateGraph } from "../src/ir/validate.ts";
import { emitModel } from "../src/onnx/emit.ts";
import { fuseGemmUpdates } from "../src/optim/fuse_update.ts";
import { createSession, type HostTensor } from "../src/runtime/session.ts";
import { assert, assertClose } from "./_assert.ts";

/** W [4, 6] updated by SGD with the gradient Gemm(dY [N, 4], X [N, 6], transA = 1, alpha). */
function update(alpha: number, extraUse = false): Graph {
  const b = createGraphBuilder();
  const dy = b.input("dy", { dtype: "float32", shape: ["N", 4] });
  const x = b.input("x", { dtype: "float32", shape: ["N", 6] });
  const w = b.input("w", { dtype: "float32", shape: [4, 6] });
  const lr = b.input("lr", { dtype: "float32", shape: [] });
  const g = b.op1("Gemm", [dy, x], { transA: 1, alpha });
  b.output("w.next", b.op1("Sub", [w, b.op1("Mul", [g, lr])]));
  if (extraUse) b.output("grad", g);
  return validateGraph(b.build("update"));
}

const feeds = (n: number): Record<string, HostTensor> => {
  const fill = (len: number, k: number) =>
    Float32Array.from({ length: len }, (_, i) => Math.sin(k * (i + 1)) * (1 + (i % 3)));
  return {
    dy: { dtype: "float32", dims: [n, 4], data: fill(4 * n, 1.3) },
    x: { dtype: "float32", dims: [n, 6], data: fill(6 * n, 0.7) },
    w: { dtype: "float32", dims: [4, 6], data: fill(24, 2.1) },
    lr: { dtype: "float32", dims: [], data: Float32Array.of(0.05) },
  };
};

async function run(graph: Graph, inputs: Record<string, HostTensor>) {
  const session = await createSession(emitModel(graph), { threads: 1 });
  try {
    return (await session.run(inputs))["w.next"].data as Float32Array;
  } finally {
    await session.release();
  }
}

Deno.test("fuseGemmUpdates: one Gemm onto the weight, the same update within float rounding", async () => {
  for (const alpha of [1, 0.5]) {
    const plain = update(alpha), fused = validateGraph(fuseGemmUpdates(plain));
    assert.deepEqual(plain.nodes.map((n) => n.op), ["Gemm", "Mul", "Sub"]);
    assert.deepEqual(fused.nodes.map((n) => n.op), ["Mul", "Gemm"]);
    const [scale, gemm] = fused.nodes;
    // lr scales dY ([N, 4]), the smaller operand, and the Gemm accumulates onto w.
    assert.deepEqual(scale.inputs.map((v) => v!.name), ["dy", "lr"]);
    assert.deepEqual(gemm.inputs.map((v) => v!.name), [scale.outputs[0].name, "x", "w"]);
    assert.deepEqual(gemm.attrs, { transA: 1, alpha: -alpha, beta: 1 });
    assert.equal(gemm.outputs[0], plain.nodes[2].outputs[0], "the update keeps its value");
    const inputs = feeds(5);
    const expected = await run(plain, inputs), got = await run(fused, inputs);
    assertClose(got, expected, 1e-6, `alpha ${alpha}`);
    // Not the unchanged weight: the update is large enough to see.
    assert.ok(got.some((v, i) => Math.abs(v - (inputs.w.data as Float32Array)[i]) > 1e-3));
  }
});

Deno.test("fuseGemmUpdates: a gradient used elsewhere (clipping, logging) is left alone", () => {
  const graph = update(1, true);
  assert.equal(fuseGemmUpdates(graph), graph);
});

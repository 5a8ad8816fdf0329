// Duplicate nodes merged (shareDuplicates): equal constants and the nodes reading them become
// one, outputs of a merged node follow the one kept, values are unchanged, and a small
// convolution's im2col columns are gathered once for its forward GEMM and its weight gradient.
import {
  conv2d,
  crossEntropy,
  flatten,
  linear,
  pipeline,
  relu,
  sequential,
  sgd,
  tensorDataset,
} from "../mod.ts";
import { shareDuplicates } from "../src/compile/share_nodes.ts";
import type { PipelineSpec } from "../src/train/run.ts";
import { compilePipeline } from "../src/train/compile_pipeline.ts";
import { assert, assertClose } from "./_assert.ts";
import { buildGraph, countOps, runGraph, tensor, values } from "./_harness.ts";

Deno.test("share nodes: equal constants and the nodes reading them merge, values unchanged", async () => {
  const graph = buildGraph("dups", (b) => {
    const x = b.input("x", { dtype: "float32", shape: [2, 3] });
    const t1 = b.op1("Transpose", [x], { perm: [1, 0] });
    const t2 = b.op1("Transpose", [x], { perm: [1, 0] });
    const r1 = b.op1("Reshape", [t1, b.ints([6])]);
    const r2 = b.op1("Reshape", [t2, b.ints([6])]); // an equal constant, another node
    const r3 = b.op1("Reshape", [t2, b.ints([3, 2])]); // another shape: kept
    const s1 = b.op1("Mul", [r1, b.scalar(2)]);
    const s2 = b.op1("Mul", [r2, b.scalar(3)]); // another factor: kept
    b.output("a", s1);
    b.output("b", r2); // a merged node's output
    b.output("c", s2);
    b.output("d", r3);
    b.output("e", b.op1("Softmax", [x], { axis: 1 }));
    b.output("f", b.op1("Softmax", [x], { axis: 0 })); // other attributes: kept
  });
  const shared = shareDuplicates(graph);
  assert.equal(countOps(graph, "Transpose"), 2);
  assert.equal(countOps(shared, "Transpose"), 1);
  assert.equal(countOps(shared, "Reshape"), 2);
  assert.equal(countOps(shared, "Mul"), 2);
  assert.equal(countOps(shared, "Softmax"), 2);
  // ints([6]) once, ints([3, 2]), 2 and 3.
  assert.equal(countOps(shared, "Constant"), 4);
  assert.equal(
    shared.outputs[1].value.id,
    shared.nodes.find((n) => n.op === "Reshape")!.outputs[0].id,
  );
  const x = tensor("float32", [2, 3], [1, -2, 3.5, 0.25, 5, -6]);
  const want = await runGraph(graph, { x }), got = await runGraph(shared, { x });
  for (const name of ["a", "b", "c", "d", "e", "f"]) {
    assert.deepEqual(got[name].dims, want[name].dims, name);
    assertClose(values(got[name]), values(want[name]), 0, name);
  }
  assert.deepEqual(values(got.b), [1, 0.25, -2, 5, 3.5, -6]);
  assert.equal(shareDuplicates(shared), shared, "nothing left to merge");
});

Deno.test("share nodes: a small convolution gathers its columns once for Y and for dW", () => {
  const ds = tensorDataset({
    train: { x: new Float32Array(2 * 4 * 3 * 3), y: [0, 1] },
    test: { x: new Float32Array(2 * 4 * 3 * 3), y: [0, 1] },
    sampleShape: [4, 3, 3],
    classes: 2,
  });
  // 3×3 images: 9 positions, so the conv is one GEMM over the batch (lowerSmallConvs).
  const model = sequential(conv2d(4, 6, 3, { padding: 1 }), relu(), flatten(), linear(54, 2));
  const spec = pipeline().data(ds, { batchSize: 2 }).model(model).loss(crossEntropy())
    .optimizer(sgd({ lr: 0.1, momentum: 0.9 })).props as PipelineSpec;
  const { train } = compilePipeline(spec);
  assert.equal(countOps(train, "Conv"), 0);
  const gathers = train.nodes.filter((n) => n.op === "Gather" && n.origin?.includes("conv2d"));
  assert.equal(gathers.length, 1, "the forward's columns serve the weight gradient");
});

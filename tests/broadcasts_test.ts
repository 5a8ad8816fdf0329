// Broadcasts onnxruntime would run a few elements at a time, rewritten: one-element operands get
// the result's full rank (padScalarOperands): the same values, one shared Reshape per computed
// scalar and rank, constants re-emitted, and compiled train graphs left with no such operand;
// Expands of trailing unit axes become outer products with ones (expandsByMatMul), exactly.
import {
  adam,
  conv2d,
  crossEntropy,
  flatten,
  linear,
  pipeline,
  sequential,
  sgd,
  tensorDataset,
} from "../mod.ts";
import { expandsByMatMul, padScalarOperands } from "../src/compile/broadcasts.ts";
import type { Graph } from "../src/ir/types.ts";
import type { PipelineSpec } from "../src/train/run.ts";
import { compilePipeline } from "../src/train/compile_pipeline.ts";
import { assert, assertClose } from "./_assert.ts";
import { buildGraph, countOps, runGraph, tensor, values } from "./_harness.ts";

/** The broadcasting nodes whose result ends in a unit axis and that read a lower-rank scalar. */
function shortScalarUses(graph: Graph): string[] {
  const ops = new Set(["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Where", "Greater"]);
  return graph.nodes.filter((n) => {
    const shape = n.outputs[0]?.type.shape ?? [];
    return ops.has(n.op) && shape.at(-1) === 1 &&
      n.inputs.some((v) =>
        v !== null && v.type.shape.length < shape.length && v.type.shape.every((d) => d === 1)
      );
  }).map((n) => `${n.op} ${n.inputs.map((v) => `[${v?.type.shape}]`).join(" ")}`);
}

Deno.test("scalar operands: padded to full rank where the result ends in 1, same values", async () => {
  const graph = buildGraph("scalars", (b) => {
    const x = b.input("x", { dtype: "float32", shape: ["N", 3, 1, 1] });
    const q = b.input("q", { dtype: "float32", shape: [2, 3] });
    const s = b.input("s", { dtype: "float32", shape: [] });
    const one = b.input("one", { dtype: "float32", shape: [1] });
    const half = b.scalar(0.5);
    b.output("a", b.op1("Mul", [x, s]));
    b.output("b", b.op1("Add", [b.op1("Sub", [s, x]), half]));
    b.output("c", b.op1("Where", [b.op1("Greater", [x, half]), x, one]));
    b.output("d", b.op1("Div", [x, b.op1("Mul", [s, half])]));
    b.output("e", b.op1("Mul", [q, s])); // last axis 3: left alone
  });
  const padded = padScalarOperands(graph);
  assert.deepEqual(shortScalarUses(graph).length, 6);
  assert.deepEqual(shortScalarUses(padded), []);
  // Reshaped once each: s (shared by Mul and Sub), one, and s·½; ½ re-emitted once as [1,1,1,1]
  // (shared by Add and Greater), plus the three Reshapes' shape constants.
  assert.equal(countOps(padded, "Reshape"), 3);
  assert.equal(countOps(padded, "Constant"), countOps(graph, "Constant") + 4);
  const e = padded.nodes.find((n) => n.outputs[0].id === padded.outputs[4].value.id)!;
  assert.deepEqual(e.inputs.map((v) => v!.type.shape), [[2, 3], []]);

  const feeds = {
    x: tensor("float32", [4, 3, 1, 1], [0.1, 0.9, -2, 3, 0.5, 0.7, -0.2, 1.5, 2.5, 0, 4, -1]),
    q: tensor("float32", [2, 3], [1, 2, 3, 4, 5, 6]),
    s: tensor("float32", [], [1.25]),
    one: tensor("float32", [1], [-7]),
  };
  const want = await runGraph(graph, feeds), got = await runGraph(padded, feeds);
  for (const name of ["a", "b", "c", "d", "e"]) {
    assert.deepEqual(got[name].dims, want[name].dims, name);
    assertClose(values(got[name]), values(want[name]), 0, name);
  }
  assert.deepEqual(values(got.c).slice(0, 3), [-7, Math.fround(0.9), -7]);
  assert.equal(padScalarOperands(padded), padded, "nothing left to pad");
});

Deno.test("scalar operands: SGD-momentum and Adam updates of 1×1 conv weights read full-rank scalars", () => {
  const ds = tensorDataset({
    train: { x: new Float32Array(2 * 3 * 4 * 4), y: [0, 1] },
    test: { x: new Float32Array(2 * 3 * 4 * 4), y: [0, 1] },
    sampleShape: [3, 4, 4],
    classes: 2,
  });
  const model = sequential(conv2d(3, 8, 1), conv2d(8, 4, 1), flatten(), linear(64, 2));
  for (const optimizer of [sgd({ lr: 0.1, momentum: 0.9, weightDecay: 1e-4 }), adam({})]) {
    const spec = pipeline().data(ds, { batchSize: 2 }).model(model).loss(crossEntropy())
      .optimizer(optimizer).props as PipelineSpec;
    const compiled = compilePipeline(spec);
    assert.deepEqual(shortScalarUses(compiled.train), [], optimizer.kind);
    assert.deepEqual(shortScalarUses(compiled.eval), [], optimizer.kind);
    assert.ok(countOps(compiled.train, "Reshape") > 0);
  }
});

Deno.test("broadcasts: an Expand of trailing unit axes is an outer product with ones, same values", async () => {
  const graph = buildGraph("expands", (b) => {
    const x = b.input("x", { dtype: "float32", shape: ["N", 3, 1, 1] });
    const z = b.input("z", { dtype: "float32", shape: [2, 3, 2, 2] });
    const v = b.input("v", { dtype: "float32", shape: [2, 1, 4] });
    b.output("a", b.op1("Expand", [x, b.ints([1, 3, 2, 5])])); // symbolic batch: Shape(x)
    const w = b.input("w", { dtype: "float32", shape: [2, 3, 1, 1] });
    b.output("b", b.op1("Expand", [b.op1("Relu", [w]), b.op1("Shape", [z])]));
    b.output("c", b.op1("Expand", [v, b.ints([2, 3, 4])])); // a middle axis: kept
  });
  const rewritten = expandsByMatMul(graph);
  assert.equal(countOps(graph, "Expand"), 3);
  assert.equal(countOps(rewritten, "Expand"), 1);
  assert.equal(countOps(rewritten, "MatMul"), 2);
  const feeds = {
    x: tensor("float32", [2, 3, 1, 1], [1, -2, 3.5, 0.25, -0, 6]),
    z: tensor("float32", [2, 3, 2, 2], Array(24).fill(0)),
    w: tensor("float32", [2, 3, 1, 1], [1, -2, 3.5, 0.25, -0, 6]),
    v: tensor("float32", [2, 1, 4], [1, 2, 3, 4, 5, 6, 7, 8]),
  };
  const want = await runGraph(graph, feeds), got = await runGraph(rewritten, feeds);
  for (const name of ["a", "b", "c"]) {
    assert.deepEqual(got[name].dims, want[name].dims, name);
    assertClose(values(got[name]), values(want[name]), 0, name);
  }
  assert.deepEqual(values(got.a).slice(0, 12), [...Array(10).fill(1), -2, -2]);
  assert.deepEqual(got.b.dims, [2, 3, 2, 2]);
  assert.equal(expandsByMatMul(rewritten), rewritten);
});
